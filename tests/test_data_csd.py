"""The CMU-MultimodalSDK importer: generated .csd files in the SDK's layout, and the real MOSI label file."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from pipeline.data.build import build_store
from pipeline.data.config import DataConfig, TensorConfig
from pipeline.data.folds import MOSI_TEST, MOSI_TRAIN, MOSI_VALID, read_folds
from pipeline.data.loader import make_loader
from pipeline.data.synthetic import write_csd

MOSI = Path(__file__).resolve().parents[2] / "shared" / "data" / "mosi"
LABELS = MOSI / "CMU_MOSI_Opinion_Labels.csd"
TRAIN, VALID, TEST = MOSI_TRAIN[0], MOSI_VALID[0], MOSI_TEST[0]
STEP = 0.25  # seconds per feature row: exact in binary, so interval edges compare exactly
WIDE = TensorConfig(max_len={"t": 50, "a": 500, "v": 500})


def frames(rng, seconds: float, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, dim) features and (rows, 2) back-to-back intervals covering [0, seconds)."""
    starts = np.arange(0, seconds, STEP)
    return rng.standard_normal((len(starts), dim)).astype(np.float32), np.stack([starts, starts + STEP], axis=1)


def labels_for(videos: dict[str, list[tuple[float, float, float]]]) -> dict:
    """video -> (segments, 1) scores and (segments, 2) intervals, as in the SDK's label files."""
    return {v: (np.array([[s] for _, _, s in segs], np.float32), np.array([[a, b] for a, b, _ in segs], np.float32))
            for v, segs in videos.items()}


@pytest.fixture
def sdk_folder(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "mosi_csd"
    folder.mkdir()
    segments = {
        TRAIN: [(1.0, 2.0, 1.5), (2.0, 3.5, -0.5)],
        VALID: [(0.5, 1.0, 3.0)],
        TEST: [(4.0, 5.0, -3.0), (0.0, 1.25, 0.0)],
        "notInAnyFold": [(0.0, 1.0, 2.0)],
    }
    write_csd(folder / "CMU_MOSI_Opinion_Labels.csd", "Opinion Segment Labels", labels_for(segments))
    videos = list(segments)
    write_csd(folder / "CMU_MOSI_COVAREP.csd", "COVAREP", {v: frames(rng, 6.0, 5) for v in videos})
    write_csd(folder / "CMU_MOSI_Visual_Facet_42.csd", "FACET 4.2", {v: frames(rng, 6.0, 3) for v in videos if v != VALID})
    write_csd(folder / "CMU_MOSI_TimestampedWordVectors.csd", "glove_vectors", {v: frames(rng, 6.0, 4) for v in videos})
    words = {v: (np.array([[b"hello"]] * 24), frames(rng, 6.0, 1)[1]) for v in videos}
    write_csd(folder / "CMU_MOSI_TimestampedWords.csd", "words", words)
    return folder


def test_segments_take_the_feature_rows_that_overlap_them(sdk_folder, tmp_path):
    manifest, _ = build_store(DataConfig(path=str(sdk_folder)), WIDE, tmp_path / "store")
    assert manifest.source["format"] == "csd" and manifest.splits == {"train": 2, "valid": 1, "test": 2}
    assert manifest.dims == {"t": 4, "a": 5, "v": 3}
    assert manifest.features["v"] == {"extractor": "cmu-sdk", "model": "FACET 4.2", "settings": {"file": "CMU_MOSI_Visual_Facet_42.csd"}}
    assert manifest.skipped == [f"{sdk_folder / 'CMU_MOSI_Opinion_Labels.csd'}: video notInAnyFold is in no fold"]

    train = tmp_path / "store" / "train"
    assert json.loads((train / "ids.json").read_text()) == [f"{TRAIN}/1", f"{TRAIN}/2"]
    assert np.load(train / "a_lengths.npy").tolist() == [4, 6]  # [1, 2) s and [2, 3.5) s at 0.25 s per row
    with h5py.File(sdk_folder / "CMU_MOSI_COVAREP.csd") as handle:
        covarep = handle["COVAREP/data"][TRAIN]["features"][()]
    np.testing.assert_array_equal(np.load(train / "a.npy")[0, :4], covarep[4:8])
    np.testing.assert_allclose(np.load(train / "labels.npy"), [1.5, -0.5])

    valid = next(iter(make_loader(tmp_path / "store", "valid", 1, shuffle=False)))
    assert valid.present.tolist() == [[True, True, False]]  # the Facet file lacks this video


def test_ambiguous_files_must_be_named(sdk_folder, tmp_path):
    rng = np.random.default_rng(1)
    write_csd(sdk_folder / "CMU_MOSI_Visual_OpenFace_2.csd", "OpenFace_2", {TRAIN: frames(rng, 6.0, 7)})
    with pytest.raises(ValueError, match=r"several .csd files could be v \(CMU_MOSI_Visual_Facet_42.csd, CMU_MOSI_Visual_OpenFace_2.csd\); name one in data.csd_files.v"):
        build_store(DataConfig(path=str(sdk_folder)), WIDE, tmp_path / "store")
    named = DataConfig(path=str(sdk_folder), csd_files={"v": "CMU_MOSI_Visual_OpenFace_2.csd"})
    manifest, _ = build_store(named, WIDE, tmp_path / "store")
    assert manifest.dims["v"] == 7


def test_a_word_file_is_not_features(sdk_folder, tmp_path):
    words = DataConfig(path=str(sdk_folder), csd_files={"t": "CMU_MOSI_TimestampedWords.csd"})
    with pytest.raises(ValueError, match=r"CMU_MOSI_TimestampedWords.csd: .*/features are not numbers"):
        build_store(words, WIDE, tmp_path / "store")


def test_missing_keys_and_shapes_are_named(sdk_folder, tmp_path):
    with h5py.File(sdk_folder / "CMU_MOSI_COVAREP.csd", "a") as handle:
        del handle["COVAREP/data"][TEST]["intervals"]
    with pytest.raises(ValueError, match=rf"CMU_MOSI_COVAREP.csd: missing key COVAREP/data/{TEST}/intervals"):
        build_store(DataConfig(path=str(sdk_folder)), WIDE, tmp_path / "store")
    (sdk_folder / "CMU_MOSI_COVAREP.csd").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="CMU_MOSI_COVAREP.csd: not an HDF5 computational sequence"):
        build_store(DataConfig(path=str(sdk_folder)), WIDE, tmp_path / "store")


def test_other_datasets_name_their_folds_file(sdk_folder, tmp_path):
    with pytest.raises(ValueError, match="data.folds: no embedded folds for mosei"):
        build_store(DataConfig(path=str(sdk_folder), dataset="mosei"), WIDE, tmp_path / "store")
    folds = tmp_path / "folds.json"
    folds.write_text(json.dumps({"train": [TRAIN, "notInAnyFold"], "valid": [VALID], "test": []}))
    manifest, _ = build_store(DataConfig(path=str(sdk_folder), dataset="mosei", folds=str(folds)), WIDE, tmp_path / "store")
    assert manifest.splits == {"train": 3, "valid": 1}


@pytest.mark.skipif(not LABELS.is_file(), reason="the real CMU-MOSI label file (../shared/data/mosi) is not on this machine")
def test_real_mosi_label_file_with_the_standard_folds(tmp_path):
    """All 2199 real opinion segments with generated audio rows; train/valid labels agree with the MOSI csv."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "mosi"
    folder.mkdir()
    (folder / LABELS.name).symlink_to(LABELS)  # read in place, never copied
    with h5py.File(LABELS) as handle:
        ends = {v: float(g["intervals"][()].max()) for v, g in handle["Opinion Segment Labels/data"].items()}
    write_csd(folder / "CMU_MOSI_COVAREP.csd", "COVAREP", {v: frames(rng, end + 1, 2) for v, end in ends.items()})

    manifest, _ = build_store(DataConfig(path=str(folder)), WIDE, tmp_path / "store")
    assert manifest.splits == {"train": 1284, "valid": 229, "test": 686} and manifest.modalities == ("a",)
    assert manifest.skipped == []
    ids = json.loads((tmp_path / "store" / "valid" / "ids.json").read_text())
    stored = dict(zip(ids, np.load(tmp_path / "store" / "valid" / "labels.npy").tolist()))
    csv_file = MOSI / "mosi_train_valid.csv"
    if csv_file.is_file():
        with open(csv_file, newline="") as handle:
            expected = {f"{r['video_id']}/{r['clip_id']}": float(r["label"]) for r in csv.DictReader(handle) if r["mode"] == "valid"}
        assert stored.keys() == expected.keys()
        assert max(abs(stored[k] - expected[k]) for k in expected) < 1e-5
    assert (np.load(tmp_path / "store" / "test" / "a_lengths.npy") > 0).all()


@pytest.mark.skipif(not (MOSI / "cmu_mosi_std_folds.py").is_file(), reason="the SDK's MOSI folds file is not on this machine")
def test_the_sdk_folds_file_matches_the_embedded_folds():
    assert read_folds(str(MOSI / "cmu_mosi_std_folds.py"), "mosei") == read_folds("", "mosi")
