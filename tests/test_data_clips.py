"""The features-stage importer: clip folders written by `save_clip`, through the real build and command."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.data.build import build_store
from pipeline.data.config import DataConfig, TensorConfig
from pipeline.data.loader import make_loader
from pipeline.features.clip import ClipFeatures, ModalityFeatures, Transcript, save_clip

from .cli_support import pipeline

DIMS = {"t": 6, "a": 4, "v": 3}
SETTINGS = {"t": {"layer": -1}, "a": {"feature_set": "eGeMAPSv02"}, "v": {"fps": 5}}
MOSI_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "mosi" / "mosi_train_valid.csv"


def clip(rng, frames: dict[str, int], dims=DIMS) -> ClipFeatures:
    modalities = {
        m: ModalityFeatures(
            values=rng.standard_normal((n, dims[m])).astype(np.float32),
            times=np.stack([np.arange(n), np.arange(n) + 1.0], axis=1),
            extractor=f"extractor-{m}", model=f"model-{m}", settings=SETTINGS[m],
        )
        for m, n in frames.items()
    }
    return ClipFeatures(Transcript("some words", "en"), modalities, duration=2.0)


def write_dataset(root: Path, rows: list[dict], clips: list[ClipFeatures | None]) -> Path:
    """clips.csv plus one folder per clip (None: the folder is never written, as after a failed extraction)."""
    root.mkdir(parents=True, exist_ok=True)
    for row, features in zip(rows, clips):
        row.setdefault("folder", f"clips/{row['video_id']}/{row['clip_id']}")
        if features is not None:
            save_clip(features, root / row["folder"])
    with open(root / "clips.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def small_dataset(root: Path, n: int = 12, seed: int = 0, **row_extra) -> Path:
    rng = np.random.default_rng(seed)
    modes = ["train", "valid", "test"]
    rows = [{"video_id": f"vid{i // 2}", "clip_id": str(i % 2 + 1), "label": f"{rng.uniform(-3, 3):.3f}",
             "mode": modes[i % 3], **row_extra} for i in range(n)]
    clips = [clip(rng, {"t": 3 + i % 4, "a": 5 + i, "v": 0 if i == 1 else 4}) for i in range(n)]
    return write_dataset(root, rows, clips)


def test_clip_folders_become_a_store_with_their_extractor_settings(tmp_path):
    folder = small_dataset(tmp_path / "features")
    manifest, rebuilt = build_store(DataConfig(path=str(folder)), TensorConfig(), tmp_path / "store")
    assert rebuilt and manifest.splits == {"train": 4, "valid": 4, "test": 4}
    assert manifest.dims == DIMS and manifest.source["format"] == "features"
    assert manifest.features["a"] == {"extractor": "extractor-a", "model": "model-a", "settings": SETTINGS["a"]}
    batch = next(iter(make_loader(tmp_path / "store", "valid", 4, shuffle=False)))
    assert batch.ids[0] == "vid0/2"
    assert batch.lengths["v"].tolist() == [0, 4, 4, 4] and batch.present[:, 2].tolist() == [False, True, True, True]
    assert not batch.inputs["v"][0].any()


def test_unchanged_inputs_do_nothing_and_a_change_rebuilds(tmp_path):
    folder = small_dataset(tmp_path / "features")
    data, tensors, out = DataConfig(path=str(folder)), TensorConfig(), tmp_path / "store"
    first, _ = build_store(data, tensors, out)
    stamp = (out / "train" / "a.npy").stat().st_mtime_ns
    again, rebuilt = build_store(data, tensors, out)
    assert not rebuilt and again.key == first.key and (out / "train" / "a.npy").stat().st_mtime_ns == stamp
    shorter, rebuilt = build_store(data, TensorConfig(max_len={"t": 2, "a": 3, "v": 3}), out)
    assert rebuilt and shorter.max_lengths == {"t": 2, "a": 3, "v": 3}
    save_clip(clip(np.random.default_rng(9), {"t": 3, "a": 30, "v": 4}), folder / "clips/vid0/1")
    _, rebuilt = build_store(data, TensorConfig(max_len={"t": 2, "a": 3, "v": 3}), out)
    assert rebuilt


def test_text_only_dataset_keeps_text_and_says_so(tmp_path):
    rng = np.random.default_rng(1)
    rows = [{"video_id": "v", "clip_id": str(i), "label": "0.5", "mode": ["train", "valid"][i % 2]} for i in range(4)]
    folder = write_dataset(tmp_path / "features", rows, [clip(rng, {"t": 5}) for _ in rows])
    manifest, _ = build_store(DataConfig(path=str(folder)), TensorConfig(), tmp_path / "store")
    assert manifest.modalities == ("t",) and manifest.splits == {"train": 2, "valid": 2}


@pytest.mark.skipif(not MOSI_CSV.is_file(), reason="the MOSI transcripts (../shared/data/mosi) are not on this machine")
def test_real_mosi_text_split_sizes_and_labels(tmp_path):
    """The real MOSI train/valid labels through the text-only path (token vectors are generated)."""
    with open(MOSI_CSV, newline="") as handle:
        source_rows = list(csv.DictReader(handle))
    rng = np.random.default_rng(0)
    rows = [{k: r[k] for k in ("video_id", "clip_id", "label", "mode")} for r in source_rows]
    clips = [clip(rng, {"t": len(r["text"].split())}, dims={"t": 2}) for r in source_rows]
    folder = write_dataset(tmp_path / "features", rows, clips)
    manifest, _ = build_store(DataConfig(path=str(folder)), TensorConfig(), tmp_path / "store")
    assert manifest.splits == {"train": 1284, "valid": 229}  # the test split is held back
    labels = np.load(tmp_path / "store" / "valid" / "labels.npy")
    assert labels.min() >= -3 and labels.max() <= 3
    assert labels[0] == pytest.approx(2.4)  # _dI--eQ6qVU_1 "but i can safely assure you ..."


def test_a_missing_or_corrupt_clip_is_reported_and_skipped(tmp_path):
    folder = small_dataset(tmp_path / "features")
    (folder / "clips/vid0/1/features.json").unlink()  # extraction never finished
    (folder / "clips/vid1/1/features.safetensors").write_bytes(b"garbage")
    (folder / "clips/vid2/1/features.json").write_text('{"modalities": {"t": {"present": true}}}')
    manifest, _ = build_store(DataConfig(path=str(folder)), TensorConfig(), tmp_path / "store")
    assert manifest.splits == {"train": 3, "valid": 3, "test": 3}
    assert len(manifest.skipped) == 3
    assert "clips.csv:2" in manifest.skipped[0] and "no features.json" in manifest.skipped[0]
    assert "clips.csv:6" in manifest.skipped[1] and "features.json is unreadable (KeyError" in manifest.skipped[1]
    assert "clips/vid1/1" in manifest.skipped[2] and "unreadable" in manifest.skipped[2]


def test_bad_inputs_are_one_line_errors_naming_the_row(tmp_path):
    rng = np.random.default_rng(2)
    rows = [{"video_id": "v", "clip_id": str(i), "label": "1.0", "mode": ["train", "valid"][i % 2]} for i in range(4)]
    clips = [clip(rng, {"t": 3, "a": 2}) for _ in rows]
    clips[3] = clip(rng, {"t": 3, "a": 2}, dims={"t": 6, "a": 9})
    folder = write_dataset(tmp_path / "widths", rows, clips)
    with pytest.raises(ValueError, match=r"clips.csv:5: modality a has width 9, earlier clips 4"):
        build_store(DataConfig(path=str(folder)), TensorConfig(), tmp_path / "store")

    other = clip(rng, {"t": 3, "a": 2})
    other.modalities["a"].settings = {"feature_set": "ComParE_2016"}
    folder = write_dataset(tmp_path / "settings", rows, [clip(rng, {"t": 3, "a": 2}), other, *clips[2:3], clips[0]])
    with pytest.raises(ValueError, match=r"clips.csv:3: modality a was extracted with .*ComParE_2016.*, earlier clips with .*eGeMAPSv02"):
        build_store(DataConfig(path=str(folder)), TensorConfig(), tmp_path / "store")

    rows[2]["label"] = "3.5"
    folder = write_dataset(tmp_path / "range", rows, [clip(rng, {"t": 3}) for _ in rows])
    with pytest.raises(ValueError, match=r"clips.csv:4 .*label 3.5 is outside \[-3, 3\] of mosi"):
        build_store(DataConfig(path=str(folder)), TensorConfig(), tmp_path / "store")

    rows[2]["label"], rows[2]["mode"] = "1.0", "dev"
    folder = write_dataset(tmp_path / "mode", rows, [clip(rng, {"t": 3}) for _ in rows])
    with pytest.raises(ValueError, match=r"clips.csv:4: mode 'dev' is not one of"):
        build_store(DataConfig(path=str(folder)), TensorConfig(), tmp_path / "store")

    only_train = [dict(r, mode="train") for r in rows]
    folder = write_dataset(tmp_path / "splits", only_train, [clip(rng, {"t": 3}) for _ in rows])
    with pytest.raises(ValueError, match="split valid is empty"):
        build_store(DataConfig(path=str(folder)), TensorConfig(), tmp_path / "store")
    assert not (tmp_path / "store").exists()


def test_nonfinite_features_stop_the_build_or_become_zero(tmp_path):
    folder = small_dataset(tmp_path / "features", n=6)
    broken = clip(np.random.default_rng(3), {"t": 3, "a": 6, "v": 4})
    broken.modalities["a"].values[2, 1] = np.inf
    save_clip(broken, folder / "clips/vid1/1")  # csv line 4
    with pytest.raises(ValueError, match=r"clips.csv:4 .*modality a has NaN/inf at step 2"):
        build_store(DataConfig(path=str(folder)), TensorConfig(), tmp_path / "store")
    build_store(DataConfig(path=str(folder)), TensorConfig(nonfinite="zero"), tmp_path / "store")
    assert np.isfinite(np.load(tmp_path / "store" / "test" / "a.npy")).all()


def test_sublabels_are_stored(tmp_path):
    folder = small_dataset(tmp_path / "features", label_T="0.5", label_A="-0.25", label_V="1")
    manifest, _ = build_store(DataConfig(path=str(folder)), TensorConfig(), tmp_path / "store")
    assert manifest.sublabels == ("T", "A", "V")
    assert np.load(tmp_path / "store" / "train" / "label_A.npy").tolist() == [-0.25] * 4


def test_stage_command_builds_then_reports_up_to_date(tmp_path):
    raw = tmp_path / "raw"  # a raw dataset folder: its features come from features.out
    raw.mkdir()
    (raw / "label.csv").write_text("video_id,clip_id,text,label,mode\n")
    small_dataset(tmp_path / "features")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({
        "data": {"path": str(raw)},
        "tensors": {"out": str(tmp_path / "store")},
        "features": {"out": str(tmp_path / "features")},
    }))
    first = pipeline("tensors", "--params", str(params), timeout=120)
    assert first.returncode == 0, first.stderr
    assert "train 4, valid 4, test 4 clips" in first.stdout
    second = pipeline("tensors", "--params", str(params), timeout=120)
    assert second.returncode == 0 and "up to date" in second.stdout

    params.write_text(yaml.safe_dump({"data": {"path": str(raw)}, "tensors": {"dtype": "float64"}}))
    bad = pipeline("tensors", "--params", str(params), timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: tensors.dtype: 'float64' is not one of ['float32', 'float16']"
