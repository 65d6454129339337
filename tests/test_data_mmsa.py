"""The MMSA pickle importer, on generated pickles in the exact aligned_50 / unaligned_50 layout."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.data.build import build_store
from pipeline.data.config import DataConfig, TensorConfig
from pipeline.data.loader import make_loader
from pipeline.data.synthetic import mmsa_split, write_mmsa

STEPS = {"t": 10, "a": 16, "v": 12}
DIMS = {"t": 8, "a": 5, "v": 4}  # 768 / 74 / 35 in the real files
SIZES = {"train": 9, "valid": 6, "test": 6}
WIDE = TensorConfig(max_len={"t": 50, "a": 500, "v": 500})


def pickle_file(tmp_path, aligned: bool, sims: bool = False, edit=None):
    rng = np.random.default_rng(0)
    splits, first = {}, 0
    for name, n in SIZES.items():
        splits[name] = mmsa_split(n, rng, steps=STEPS, dims=DIMS, aligned=aligned, sims=sims, first_video=first)
        first += n
    if edit:
        edit(splits)
    path = tmp_path / ("aligned_50.pkl" if aligned else "unaligned_50.pkl")
    write_mmsa(path, splits)
    return path, splits


def build(tmp_path, path, dataset="mosi", tensors=WIDE, **data):
    return build_store(DataConfig(path=str(path), dataset=dataset, **data), tensors, tmp_path / "store")[0]


def test_unaligned_pickle_keeps_each_sequence_at_its_own_length(tmp_path):
    path, splits = pickle_file(tmp_path, aligned=False)
    manifest = build(tmp_path, path)
    assert manifest.source["format"] == "mmsa" and manifest.splits == SIZES and manifest.dims == DIMS
    store = tmp_path / "store" / "valid"
    valid = splits["valid"]
    assert np.load(store / "a_lengths.npy").tolist() == valid["audio_lengths"]
    assert np.load(store / "t_lengths.npy").tolist() == valid["text_bert"][:, 1].sum(axis=1).astype(int).tolist()
    n = valid["vision_lengths"][2]
    np.testing.assert_array_equal(np.load(store / "v.npy")[2, :n], valid["vision"][2, :n])
    assert json.loads((store / "ids.json").read_text())[:2] == ["video9/1", "video9/2"]  # "video9$_$1"
    np.testing.assert_allclose(np.load(store / "labels.npy"), valid["regression_labels"])


def test_aligned_pickle_takes_full_audio_and_vision(tmp_path):
    path, _ = pickle_file(tmp_path, aligned=True)
    manifest = build(tmp_path, path)
    assert manifest.max_lengths["a"] == STEPS["a"]
    assert (np.load(tmp_path / "store" / "train" / "a_lengths.npy") == STEPS["a"]).all()
    batch = next(iter(make_loader(tmp_path / "store", "train", 9, shuffle=False)))
    assert batch.inputs["a"].shape == (9, STEPS["a"], DIMS["a"])


def test_sims_pickle_stores_per_modality_labels_on_its_scale(tmp_path):
    path, splits = pickle_file(tmp_path, aligned=False, sims=True)
    manifest = build(tmp_path, path, dataset="sims")
    assert manifest.sublabels == ("T", "A", "V") and manifest.label_range == (-1.0, 1.0)
    np.testing.assert_allclose(np.load(tmp_path / "store" / "test" / "label_V.npy"), splits["test"]["regression_labels_V"])


def test_token_ids_without_vectors_are_refused_with_the_reason(tmp_path):
    path, _ = pickle_file(tmp_path, aligned=True, edit=lambda s: [split.pop("text") for split in s.values()])
    with pytest.raises(ValueError, match=r"train has text_bert \(token ids\) but no 'text' vectors"):
        build(tmp_path, path)
    assert build(tmp_path, path, modalities=("a", "v")).modalities == ("a", "v")


def drop_test(splits):
    del splits["test"]


def drop_vision_lengths(splits):
    splits["valid"]["vision_lengths"] = splits["valid"]["vision_lengths"][:-1]


def flat_audio(splits):
    splits["train"]["audio"] = splits["train"]["audio"][:, :, 0]


def empty_valid(splits):
    for key in ("text", "text_bert", "audio", "vision", "regression_labels", "id"):
        splits["valid"][key] = splits["valid"][key][:0]
    splits["valid"]["audio_lengths"] = splits["valid"]["vision_lengths"] = []


def label_out_of_range(splits):
    splits["test"]["regression_labels"][4] = 3.2


def no_labels(splits):
    del splits["train"]["regression_labels"]


@pytest.mark.parametrize("edit, message", [
    (drop_test, r"unaligned_50.pkl: missing key 'test'"),
    (no_labels, r"missing key 'train/regression_labels'"),
    (flat_audio, r"train/audio has shape \(9, 16\), expected \(9, T, d\)"),
    (drop_vision_lengths, r"valid/vision_lengths must hold 6 whole numbers in \[0, 12\]"),
    (empty_valid, r"split valid is empty"),
    (label_out_of_range, r"test row 4 \(id video16\$_\$2\): label 3.2 is outside \[-3, 3\]"),
])
def test_bad_pickles_are_one_line_errors_naming_the_key(tmp_path, edit, message):
    path, _ = pickle_file(tmp_path, aligned=False, edit=edit)
    with pytest.raises(ValueError, match=message) as error:
        build(tmp_path, path)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "store").exists()


def test_covarep_minus_inf_is_an_error_unless_zeroed(tmp_path):
    def minus_inf(splits):
        splits["train"]["audio"][3, 0, 2] = -np.inf

    path, _ = pickle_file(tmp_path, aligned=True, edit=minus_inf)
    with pytest.raises(ValueError, match=r"train row 3 \(id video1\$_\$1\): modality a has NaN/inf at step 0"):
        build(tmp_path, path)
    build(tmp_path, path, tensors=TensorConfig(max_len=WIDE.max_len, nonfinite="zero"))
    assert np.load(tmp_path / "store" / "train" / "a.npy")[3, 0, 2] == 0.0


def test_not_a_pickle_is_named(tmp_path):
    path = tmp_path / "aligned_50.pkl"
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match="aligned_50.pkl: not a readable MMSA pickle"):
        build(tmp_path, path)
