"""The features stage over a label.csv: clips.csv contract, failures, cache, resume, shards, text-only."""
from __future__ import annotations

import csv
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.features.clip import load_clip
from pipeline.features.config import FaceConfig, TranscribeConfig, features_config
from pipeline.features.dataset import parse_shard, run_features, run_transcribe

from .features_support import MOSI_CSV, make_clip, needs_mosi, tiny_bert, tiny_whisper


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    return tiny_bert(tmp_path_factory.mktemp("bert"))


@pytest.fixture
def dataset(tmp_path):
    data = tmp_path / "raw"
    (data / "vid 1").mkdir(parents=True)
    make_clip(data / "vid 1" / "1.mp4", 2.0, video="face", audio="sine")
    make_clip(data / "vid 1" / "été 2.mkv", 1.5, video="testsrc", audio="sine")
    (data / "v2").mkdir()
    (data / "v2" / "1.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    (data / "label.csv").write_text(
        "video_id,clip_id,text,label,mode,label_T,label_A,label_V\n"
        "vid 1,1,it was really good,2.4,train,2,2,2\n"
        "vid 1,été 2,a bad movie,-1.0,valid,-1,-1,-1\n"
        "v2,1,corrupt,0.0,test,0,0,0\n"
        "v2,2,missing,0.0,test,0,0,0\n"
        "vid 1,1,duplicate,1.0,train,1,1,1\n",
        encoding="utf-8",
    )
    return data


def settings_for(tmp_path: Path, data: Path, bert: Path, **overrides):
    settings = features_config({"data": str(data), "out": str(tmp_path / "features"), "cache": str(tmp_path / "cache"),
                                  "transcripts": str(tmp_path / "transcripts"), "text": {"model": str(bert)}})
    return replace(settings, **overrides)


GIVEN = TranscribeConfig(backend="given")


def test_stage_writes_the_contract_and_reports_failures(tmp_path, dataset, bert_dir):
    settings = settings_for(tmp_path, dataset, bert_dir)
    report = run_features(settings, GIVEN)
    out = Path(settings.out)
    clips = read_csv(out / "clips.csv")
    assert list(clips[0]) == ["video_id", "clip_id", "label", "mode", "folder", "label_T", "label_A", "label_V"]
    assert [(c["video_id"], c["clip_id"], c["mode"]) for c in clips] == [("vid 1", "1", "train"), ("vid 1", "été 2", "valid")]
    first = load_clip(out / clips[0]["folder"])
    assert {m: f.dim for m, f in first.modalities.items()} == {"t": 32, "a": 25, "v": 26}  # face: RetinaFace geometry 18 + expression 8
    assert first.modalities["v"].face.all() and first.transcript.text == "it was really good"
    failures = {(f["video_id"], f["clip_id"]): f for f in read_csv(out / "failures.csv")}
    assert failures["v2", "1"]["step"] == "probe" and "not a readable media file" in failures["v2", "1"]["reason"]
    assert failures["v2", "2"]["step"] == "input" and "no clip file 2.<ext>" in failures["v2", "2"]["reason"]
    assert "duplicate clip id (first on line 2)" in [f for k, f in failures.items() if k == ("vid 1", "1")][0]["reason"]
    warnings = read_csv(out / "warnings.csv")
    assert [(w["clip_id"], w["reason"]) for w in warnings] == [("été 2", "no face in any of 8 frames: face marked missing")]
    assert len(report.extracted) == 2 and len(report.failures) == 3


def test_rerun_does_nothing_and_one_setting_recomputes_one_modality(tmp_path, dataset, bert_dir):
    settings = settings_for(tmp_path, dataset, bert_dir)
    run_features(settings, GIVEN)
    arrays = Path(settings.out) / "vid 1" / "1" / "features.safetensors"
    stamp = arrays.stat().st_mtime_ns
    cache = Path(settings.cache)
    entries = lambda prefix: sorted(p.name for p in cache.rglob(f"{prefix}-*.safetensors"))  # noqa: E731
    before = {m: entries(m) for m in "tav"}
    run_features(settings, GIVEN)
    assert arrays.stat().st_mtime_ns == stamp
    run_features(replace(settings, face=FaceConfig(fps=2)), GIVEN)
    after = {m: entries(m) for m in "tav"}
    assert after["t"] == before["t"] and after["a"] == before["a"]
    assert len(after["v"]) == 2 * len(before["v"])
    assert len(load_clip(arrays.parent).modalities["v"].values) == 4  # 2 s at 2 frames/s
    run_features(replace(settings, face=FaceConfig(detector="haar")), GIVEN)  # another face detector: the face alone again
    assert {m: entries(m) for m in "ta"} == {m: before[m] for m in "ta"} and len(entries("v")) == 3 * len(before["v"])
    assert load_clip(arrays.parent).modalities["v"].dim == 24  # Haar's 16 geometry columns + 8 expression


def test_killed_run_resumes_from_the_cache(tmp_path, dataset, bert_dir):
    settings = settings_for(tmp_path, dataset, bert_dir)
    run_features(settings, GIVEN)
    shutil.rmtree(settings.out)  # as if the run died after caching, before writing its outputs
    cached = sorted(p.stat().st_mtime_ns for p in Path(settings.cache).rglob("*.safetensors"))
    run_features(settings, GIVEN)
    assert sorted(p.stat().st_mtime_ns for p in Path(settings.cache).rglob("*.safetensors")) == cached
    assert len(read_csv(Path(settings.out) / "clips.csv")) == 2


def test_shards_split_the_clips_and_share_the_cache(tmp_path, dataset, bert_dir):
    settings = settings_for(tmp_path, dataset, bert_dir)
    first, second = run_features(settings, GIVEN, parse_shard("1/2")), run_features(settings, GIVEN, parse_shard("2/2"))
    out = Path(settings.out)
    assert {r.clip_id for r in first.extracted} | {r.clip_id for r in second.extracted} == {"1", "été 2"}
    assert (out / "clips-1of2.csv").is_file() and (out / "failures-2of2.csv").is_file() and not (out / "clips.csv").exists()
    whole = run_features(settings, GIVEN)
    assert len(whole.extracted) == 2 and len(read_csv(out / "clips.csv")) == 2
    with pytest.raises(ValueError, match="expected 1 <= k <= n"):
        parse_shard("3/2")


def test_transcribe_stage_output_feeds_the_features_stage(tmp_path, dataset, bert_dir):
    settings = settings_for(tmp_path, dataset, bert_dir)
    asr = replace(GIVEN, data=str(dataset), out=settings.transcripts, cache=settings.cache)
    report = run_transcribe(asr)
    assert len(report.extracted) == 2
    transcript = Path(settings.transcripts) / "vid 1" / "1.json"
    transcript.write_text(transcript.read_text().replace("really good", "really bad"))
    run_features(settings, TranscribeConfig(backend="faster-whisper", model="/nonexistent"))  # never loaded: transcripts exist
    assert load_clip(Path(settings.out) / "vid 1" / "1").transcript.text == "it was really bad"


@needs_mosi
def test_text_only_dataset_from_mosi_rows(tmp_path, bert_dir):
    data = tmp_path / "mosi"
    data.mkdir()
    lines = MOSI_CSV.read_text(encoding="utf-8").splitlines()[:4]  # header and three segments, in tmp only
    (data / "label.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = settings_for(tmp_path, data, bert_dir)
    report = run_features(settings, TranscribeConfig())
    assert report.text_only and len(report.extracted) == 3 and not report.failures
    row = read_csv(Path(settings.out) / "clips.csv")[0]
    clip = load_clip(Path(settings.out) / row["folder"])
    assert list(clip.modalities) == ["t"] and clip.transcript.text == next(csv.DictReader(lines))["text"]
    assert clip.transcript.words[-1].end == pytest.approx(clip.duration, abs=0.01) and clip.duration > 1


def test_silence_and_no_audio_are_warnings_not_failures(tmp_path, bert_dir, tmp_path_factory):
    data = tmp_path / "raw"
    (data / "v").mkdir(parents=True)
    make_clip(data / "v" / "quiet.mp4", 1.0, video="testsrc", audio="silence")
    make_clip(data / "v" / "mute.webm", 1.0, video="testsrc", audio=None)
    (data / "label.csv").write_text("video_id,clip_id,label,mode\nv,quiet,0,train\nv,mute,0,train\n")
    settings = settings_for(tmp_path, data, bert_dir)
    whisper = tiny_whisper(tmp_path_factory.mktemp("whisper"))
    report = run_features(settings, TranscribeConfig(model=str(whisper)))  # VAD leaves nothing to decode
    assert not report.failures and len(report.extracted) == 2
    reasons = {(w[1], w[3]) for w in report.warnings if not w[3].startswith("no face")}
    assert reasons == {("quiet", "empty transcript (silence?): text marked missing"),
                       ("mute", "no audio stream: audio and text marked missing")}
    mute = load_clip(Path(settings.out) / "v" / "mute")
    # testsrc shows no face: its rows are kept, but vision counts as missing too.
    assert not mute.modalities["a"].present and not mute.modalities["t"].present and not mute.modalities["v"].present
    assert len(mute.modalities["v"].values) > 0
    quiet = load_clip(Path(settings.out) / "v" / "quiet")
    assert quiet.modalities["a"].present and not quiet.modalities["t"].present
