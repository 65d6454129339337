"""`pipeline extract` run as a user runs it: the output folder's contract, exit status and one-line errors."""
from __future__ import annotations

import json

import pytest
from safetensors.numpy import load_file

from pipeline.features.clip import load_clip

from .features_support import make_clip, params_file, tiny_bert
from .test_cli import run


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    folder = tmp_path_factory.mktemp("extract")
    bert = tiny_bert(folder / "bert")
    return params_file(folder / "params.yaml", {"backend": "given"}, {"text": {"model": str(bert)}, "face": {"fps": 4}})


def test_extract_writes_transcript_header_and_arrays(tmp_path, params):
    clip = make_clip(tmp_path / "my clip é.mp4", 2.0, video="face", audio="sine")
    out = tmp_path / "out"
    result = run("extract", "--video", str(clip), "--out", str(out), "--params", str(params), "--text", "it was really good")
    assert result.returncode == 0, result.stderr
    transcript = json.loads((out / "transcript.json").read_text())
    assert transcript["text"] == "it was really good" and [w["word"] for w in transcript["words"]][-1] == "good"
    assert set(transcript["words"][0]) == {"word", "start", "end"}
    header = json.loads((out / "features.json").read_text())
    assert {m: (h["present"], h["dim"], h["frames"]) for m, h in header["modalities"].items()} == {
        "t": (True, 32, 6), "a": (True, 25, len(load_file(str(out / "features.safetensors"))["a"])), "v": (True, 26, 8)}
    assert header["modalities"]["a"]["extractor"] == "opensmile" and header["modalities"]["v"]["settings"]["fps"] == 4
    assert load_clip(out).modalities["v"].face.all()
    assert "faces in 8/8 frames" in result.stdout and "seconds:" in result.stdout


def test_audio_only_file_marks_face_missing(tmp_path, params):
    clip = make_clip(tmp_path / "talk.flac", 1.0, video=None)
    result = run("extract", "--video", str(clip), "--out", str(tmp_path / "o"), "--params", str(params), "--text", "hello")
    assert result.returncode == 0, result.stderr
    header = json.loads((tmp_path / "o" / "features.json").read_text())["modalities"]
    assert not header["v"]["present"] and header["a"]["present"] and header["t"]["present"]
    assert result.stderr == f"warning: {clip}: no video stream: face marked missing\n"


@pytest.mark.parametrize("content, reason", [(b"", "empty file (0 bytes)"), (b"garbage" * 50, "not a readable media file"), (None, "file not found")])
def test_bad_input_is_one_line_on_stderr_with_status_2(tmp_path, params, content, reason):
    clip = tmp_path / "bad clip.mp4"
    if content is not None:
        clip.write_bytes(content)
    result = run("extract", "--video", str(clip), "--out", str(tmp_path / "o"), "--params", str(params), "--text", "x")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {clip}: {reason}" + result.stderr.strip().split(reason, 1)[1]]
    assert "Traceback" not in result.stderr and not (tmp_path / "o").exists()


def test_given_backend_without_text_names_the_problem(tmp_path, params):
    clip = make_clip(tmp_path / "c.mp4", 1.0)
    result = run("extract", "--video", str(clip), "--params", str(params))
    assert result.returncode == 2 and "no transcript was given" in result.stderr and "Traceback" not in result.stderr
