"""`pipeline predict` on clips made here, with a model trained here through the real stages.

The model is tiny (a random 2-layer BERT for text, 1 epoch): these tests check the contract —
the settings travel with the model, missing modalities get weight 0, bad input is one line,
long clips are windowed, the report renders — not the quality of the score.
"""
from __future__ import annotations

import base64
import dataclasses
import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from pipeline.commands.predict import expand
from pipeline.data.synthetic import mmsa_split, write_mmsa
from pipeline.features.config import configs_from_record
from pipeline.features.expression import EXPRESSIONS
from pipeline.features.extract import ClipInput, extract_clip
from pipeline.model import MODEL_NAMES
from pipeline.predict import ModalityReport, Prediction, explain, load_trained, rows_in, windows_of
from pipeline.report import strongest_expression_time, timeline

from .cli_support import pipeline as run_pipeline
from .features_support import make_clip, tiny_bert

TEXTS = ["i loved this movie", "it was really bad", "the acting was good", "i hated it", "really good", "bad movie"]
LABELS = [2.0, -2.0, 1.0, -2.6, 1.6, -1.2]


def pipeline(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return run_pipeline(*args, cwd=cwd, check=check)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A raw dataset of 6 face clips, run through transcribe → features → tensors → train (2 seeds)."""
    root = tmp_path_factory.mktemp("predict")
    raw = root / "raw"
    (raw / "vid").mkdir(parents=True)
    rows = ["video_id,clip_id,text,label,mode"]
    for i, (text, label) in enumerate(zip(TEXTS, LABELS)):
        make_clip(raw / "vid" / f"{i}.mp4", 2.0, video="face", audio="sine")
        rows.append(f"vid,{i},{text},{label},{'train' if i < 4 else 'valid'}")
    (raw / "label.csv").write_text("\n".join(rows) + "\n")
    params = {
        "data": {"path": str(raw)},
        "transcribe": {"backend": "given"},
        "features": {"text": {"model": str(tiny_bert(root / "bert"))}, "face": {"fps": 2}},
        "tensors": {"max_len": {"t": 16, "a": 200, "v": 8}},
        "model": {"hidden": 16, "layers": 1, "heads": 2, "factor_layers": 1},
        "train": {"seeds": [5, 6], "epochs": 1, "batch_size": 4, "device": "cpu"},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("transcribe", "features", "tensors", "train"):
        pipeline(stage, "--params", "params.yaml", cwd=root)
    return root


def predict(workspace: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return pipeline("predict", *args, cwd=workspace, check=check)


def test_json_has_score_class_and_every_modality(workspace):
    out = json.loads(predict(workspace, "--video", "raw/vid/0.mp4", "--text", "i loved this movie", "--json").stdout)
    assert {"score", "polarity", "label_class", "transcript", "modalities"} <= set(out)
    assert -3 <= out["score"] <= 3
    assert out["polarity"] == ("positive" if out["score"] > 0 else "negative")
    assert [w["word"] for w in out["transcript"]["words"]] == ["i", "loved", "this", "movie"]
    assert set(out["modalities"]) == {"t", "a", "v"}
    for m in out["modalities"].values():
        assert m["present"] is True
        assert set(m["factor_weights"]) == set(m["uncertainty"]) == {"emotion", "context", "ambiguity", "noise"}
        assert sum(m["factor_weights"].values()) == pytest.approx(1, abs=1e-4)
    assert sum(m["weight"] for m in out["modalities"].values()) == pytest.approx(1, abs=1e-4)


def test_the_score_is_the_models_on_the_training_features(workspace):
    """Predict on a training clip gives what evaluate-style scoring of the stored tensors gives."""
    from pipeline.checkpoint import load_checkpoint, model_from_checkpoint
    from pipeline.data.loader import make_loader

    batch = next(iter(make_loader(workspace / "data" / "store", "train", 4, shuffle=False)))
    stored = {}
    for seed in (5, 6):
        model = model_from_checkpoint(load_checkpoint(workspace / "models" / f"seed_{seed}.pt"))
        with torch.no_grad():
            stored[str(seed)] = model(batch.inputs, batch.lengths, batch.present).prediction[batch.ids.index("vid/1")].item()
    out = json.loads(predict(workspace, "--video", "raw/vid/1.mp4", "--text", TEXTS[1], "--json", "--window", "0").stdout)
    assert out["seed_scores"] == pytest.approx(stored, abs=1e-4)
    assert out["score"] == pytest.approx(sum(stored.values()) / 2, abs=1e-4)  # the ensemble: the mean of every seed


def test_every_prediction_says_how_sure_it_is_and_what_that_meant_on_valid(workspace):
    calibration = json.loads((workspace / "models" / "confidence.json").read_text())
    assert calibration["split"] == "valid" and calibration["source"] == "head"
    assert sum(band["clips"] for band in calibration["bands"]) == 2  # the valid split's clips
    out = json.loads(predict(workspace, "--video", "raw/vid/4.mp4", "--text", TEXTS[4], "--json").stdout)
    assert 0 < out["confidence"] <= 1 and out["confidence"] == pytest.approx(1 / (1 + out["expected_error"]))
    assert out["confidence_meaning"].startswith("on valid, the ")
    shown = predict(workspace, "--video", "raw/vid/4.mp4", "--text", TEXTS[4]).stdout
    assert f"Confidence {out['confidence']:.2f}" in shown and "2 seeds gave" in shown
    # One checkpoint alone: its own head still gives a confidence, without the valid bands.
    single = json.loads(predict(workspace, "--video", "raw/vid/4.mp4", "--text", TEXTS[4], "--json",
                                "--model", "models/seed_5.pt").stdout)
    assert single["seed_scores"].keys() == {"5"} and single["confidence"] is not None and single["confidence_meaning"] is None


def test_no_face_and_no_video_are_missing_with_weight_zero(workspace, tmp_path):
    faceless = make_clip(tmp_path / "noface.mp4", 2.0, video="testsrc", audio="sine")
    audio_only = make_clip(tmp_path / "voice.wav", 2.0, video=None, audio="sine")
    for clip in (faceless, audio_only):
        out = json.loads(predict(workspace, "--video", str(clip), "--text", "really good", "--json").stdout)
        assert out["modalities"]["v"]["present"] is False and out["modalities"]["v"]["weight"] == 0
        assert out["modalities"]["t"]["weight"] + out["modalities"]["a"]["weight"] == pytest.approx(1, abs=1e-4)


def test_corrupt_file_is_one_line(workspace, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 not a real movie")
    result = predict(workspace, "--video", str(bad), "--text", "x", check=False)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "broken.mp4" in result.stderr and "Traceback" not in result.stderr


def test_features_made_another_way_are_refused(workspace, tmp_path):
    checkpoint = torch.load(workspace / "models" / "seed_5.pt", weights_only=False)
    checkpoint["manifest"]["features"]["a"]["settings"]["fps"] = 50.0  # as if trained on downsampled audio
    torch.save(checkpoint, tmp_path / "other.pt")
    result = predict(workspace, "--video", "raw/vid/0.mp4", "--text", "x", "--model", str(tmp_path / "other.pt"), check=False)
    assert result.returncode == 2
    assert "modality a extracted with opensmile" in result.stderr and "but the model was trained on" in result.stderr


def test_several_clips_share_one_model_and_print_a_table(workspace):
    result = predict(workspace, "--video", "raw/vid", "--text", "good")
    assert "dsrf predictions" in result.stdout
    assert all(f"{i}.mp4" in result.stdout for i in range(6))
    assert "for 6 clip(s)" in result.stdout


def test_long_clip_is_windowed(workspace, tmp_path):
    long = make_clip(tmp_path / "long.wav", 25.0, video=None, audio="sine")
    out = json.loads(predict(workspace, "--video", str(long), "--text", "good bad good", "--json", "--window", "10").stdout)
    spans = [(w["start"], w["end"]) for w in out["windows"]]
    assert spans == [(0.0, 10.0), (10.0, 20.0), (20.0, 25.0)]
    weighted = sum((e - s) * w["score"] for (s, e), w in zip(spans, out["windows"])) / 25.0
    assert out["score"] == pytest.approx(float(np.clip(weighted, -3, 3)), abs=1e-5)


def test_report_is_a_page_with_figures(workspace, tmp_path):
    report = tmp_path / "report.html"
    predict(workspace, "--video", "raw/vid/2.mp4", "--text", TEXTS[2], "--report", str(report))
    page = report.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("data:image/png;base64,") == 4  # timeline, weights, routing, frame
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed here (apt-get install chromium): the page was not rendered in a browser")
    shot = tmp_path / "shot.png"
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         f"--screenshot={shot}", "--window-size=1000,1400", report.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert shot.is_file(), result.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.std() > 20, "the screenshot is blank"
    console_errors = [line for line in result.stderr.splitlines() if "CONSOLE" in line and "ERROR" in line.upper()]
    assert console_errors == []


def test_the_expression_timeline_and_the_frame_it_picks(workspace):
    out = json.loads(predict(workspace, "--video", "raw/vid/2.mp4", "--text", TEXTS[2], "--json").stdout)
    frames = out["expressions"]
    assert len(frames) == 4 and [f["time"] for f in frames] == [0.0, 0.5, 1.0, 1.5]  # a 2 s face clip at 2 fps
    for frame in frames:
        assert sum(frame[f"expr_{e}"] for e in EXPRESSIONS) == pytest.approx(1.0, abs=1e-3) and -1 <= frame["valence"] <= 1
    assert strongest_expression_time(frames) == min(frames, key=lambda f: f["expr_neutral"])["time"]
    assert strongest_expression_time([]) is None
    # The report's timeline gets a second row, the expressions, on the transcript's time axis.
    prediction = Prediction(**{**out, "modalities": {m: ModalityReport(**r) for m, r in out["modalities"].items()}})
    with_row = Image.open(io.BytesIO(base64.b64decode(timeline(prediction))))
    without = Image.open(io.BytesIO(base64.b64decode(timeline(dataclasses.replace(prediction, expressions=[])))))
    assert with_row.height > 1.6 * without.height and with_row.width >= without.width


def test_windows_and_rows_by_time():
    assert windows_of(12.0, 10.0) == [(0.0, 12.0)]  # under 1.5 windows: one
    assert windows_of(31.0, 10.0) == [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0), (30.0, 31.0)]
    times = np.array([[0.0, 31.0], [1.0, 1.5], [12.0, 12.4], [29.0, 30.5]])  # [CLS] spans all; three words
    assert rows_in(times, 10.0, 20.0).tolist() == [True, False, True, False]
    assert rows_in(times, 0.0, 10.0).tolist() == [True, True, False, False]


def test_a_model_of_imported_features_is_refused_before_any_extraction(tmp_path):
    rng = np.random.default_rng(0)
    shape = dict(steps={"t": 6, "a": 8, "v": 8}, dims={"t": 12, "a": 5, "v": 7}, aligned=False)
    write_mmsa(tmp_path / "unaligned.pkl", {"train": mmsa_split(8, rng, **shape), "valid": mmsa_split(4, rng, first_video=9, **shape),
                                           "test": mmsa_split(4, rng, first_video=12, **shape)})
    params = {"data": {"path": "unaligned.pkl"}, "model": {"hidden": 16, "layers": 1, "heads": 2, "factor_layers": 1},
              "train": {"seeds": [5], "epochs": 1, "batch_size": 4, "device": "cpu"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("tensors", "train"):
        pipeline(stage, "--params", "params.yaml", cwd=tmp_path)
    # A clip that does not exist: only a check made before extraction can answer about the model.
    result = pipeline("predict", "--video", "no-such-clip.mp4", cwd=tmp_path, check=False)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr
    assert "did not extract (mmsa at unaligned.pkl)" in result.stderr and "no-such-clip" not in result.stderr


def test_a_folder_gives_every_media_file_the_stages_accept(tmp_path):
    for name in ("a.mp4", "b.m4v", "c.mpg", "d.opus", "e.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in expand([tmp_path])] == ["a.mp4", "b.m4v", "c.mpg", "d.opus"]


BASELINES = [name for name in MODEL_NAMES if name != "dsrf"]


@pytest.fixture(scope="module")
def baselines(workspace, tmp_path_factory) -> dict[str, Path]:
    """Each baseline trained (1 epoch) on the workspace's store: name -> its models folder."""
    folders = {}
    for name in BASELINES:
        folder = tmp_path_factory.mktemp(name)
        params = yaml.safe_load((workspace / "params.yaml").read_text())
        params["model"]["name"] = name
        params["train"].update(out=str(folder / "models"), state=str(folder / "runs"))
        (folder / "params.yaml").write_text(yaml.safe_dump(params))
        pipeline("train", "--params", str(folder / "params.yaml"), cwd=workspace)
        folders[name] = folder / "models"
    return folders


def test_a_baseline_scores_from_the_command_without_dsrfs_explanation(workspace, baselines, tmp_path):
    report = tmp_path / "report.html"
    out = json.loads(predict(workspace, "--video", "raw/vid/0.mp4", "--text", "i loved this movie", "--model",
                             str(baselines["concat"]), "--json", "--report", str(report)).stdout)
    assert out["model"] == "concat" and -3 <= out["score"] <= 3 and "routing" not in out
    assert set(out["modalities"]["t"]) == {"present", "effect"} and set(out["modalities"]) == {"t", "a", "v"}
    page = report.read_text()
    assert "model: concat," in page and "factor weights" not in page and "α emotion" not in page


def test_every_baseline_checkpoint_rebuilds_and_scores_a_clip(workspace, baselines):
    trained_dsrf = load_trained(workspace / "models")
    asr, settings = configs_from_record(trained_dsrf.extraction)
    clip = extract_clip(ClipInput(workspace / "raw" / "vid" / "0.mp4", text="i loved this movie"), asr, settings).clip
    for name, folder in baselines.items():
        trained = load_trained(folder)
        assert trained.model.config.name == name and type(trained.model).__name__ != "DSRF"
        out = explain(trained, clip, "0.mp4", 10.0).to_json()
        assert out["model"] == name and -3 <= out["score"] <= 3 and "routing" not in out, name
        assert all(set(m) == {"present", "effect"} for m in out["modalities"].values()), name


def test_occlusion_is_the_score_of_the_clip_without_that_modality(workspace):
    """Each modality's effect is the score minus the score of the same clip extracted without it."""
    trained = load_trained(workspace / "models")
    asr, settings = configs_from_record(trained.extraction)
    clip = extract_clip(ClipInput(workspace / "raw" / "vid" / "0.mp4", text="i loved this movie"), asr, settings).clip
    full = explain(trained, clip, "0.mp4", 10.0)
    for m in ("t", "a", "v"):
        without = explain(trained, dataclasses.replace(clip, modalities={k: v for k, v in clip.modalities.items() if k != m}), "0.mp4", 10.0)
        assert not without.modalities[m].present and without.modalities[m].effect is None
        assert full.modalities[m].effect == pytest.approx(full.windows[0]["score"] - without.windows[0]["score"], abs=1e-5), m
    # Alone, a modality has nothing to be compared with.
    text_only = explain(trained, dataclasses.replace(clip, modalities={"t": clip.modalities["t"]}), "0.mp4", 10.0)
    assert text_only.matters_most() is None and text_only.least_trusted() is None


def test_the_report_marks_the_least_trusted_and_the_most_important_modality(workspace, tmp_path):
    report = tmp_path / "report.html"
    out = json.loads(predict(workspace, "--video", "raw/vid/1.mp4", "--text", TEXTS[1], "--json", "--report", str(report)).stdout)
    names = {"t": "text", "a": "audio", "v": "vision"}
    least = min(out["modalities"], key=lambda m: out["modalities"][m]["weight"])
    most = max(out["modalities"], key=lambda m: abs(out["modalities"][m]["effect"]))
    trusted = max(out["modalities"], key=lambda m: out["modalities"][m]["weight"])
    page = report.read_text()
    rows = {m: next(row for row in page.split("<tr>") if row.startswith(f"<td>{name}")) for m, name in names.items()}
    for m, row in rows.items():
        assert ("trusted least" in row) == (m == least) and ("matters most" in row) == (m == most), (m, row)
    assert f"Removing {names[most]} moves the score most" in page
    assert f"The model trusts {names[least]} least" in page
    assert ("weights and occlusion agree" in page) == (trusted == most)
