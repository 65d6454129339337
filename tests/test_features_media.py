"""Media: probing, 16 kHz audio and frame sampling with imageio-ffmpeg's binary, on generated clips."""
from __future__ import annotations

import pytest

from pipeline.features.media import MediaError, SAMPLE_RATE, iter_frames, load_audio, probe

from .features_support import ffmpeg, make_clip


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm", ".mov", ".avi"])
def test_containers_give_audio_and_frames(tmp_path, suffix):
    clip = make_clip(tmp_path / f"clip{suffix}", seconds=2.0)
    info = probe(clip)
    assert info.has_audio and info.has_video
    assert info.duration == pytest.approx(2.0, abs=0.15)
    assert (info.width, info.height) == (320, 240)
    audio = load_audio(info)
    assert audio.dtype.name == "float32" and abs(len(audio) / SAMPLE_RATE - 2.0) < 0.15
    assert 0.1 < abs(audio).max() <= 1.0
    frames = list(iter_frames(info, fps=5, max_side=160))
    assert abs(len(frames) - info.duration * 5) <= 1
    assert frames[0][1].shape == (120, 160, 3)
    assert [t for t, _ in frames[:3]] == [0.0, 0.2, 0.4]


def test_audio_only_and_video_only(tmp_path):
    wav = make_clip(tmp_path / "speech.flac", video=None)
    info = probe(wav)
    assert info.has_audio and not info.has_video
    with pytest.raises(MediaError, match="speech.flac: no video stream"):
        next(iter_frames(info, 5, 320))
    silent = probe(make_clip(tmp_path / "silent.webm", audio=None))
    assert silent.has_video and not silent.has_audio
    with pytest.raises(MediaError, match="silent.webm: no audio stream"):
        load_audio(silent)


def test_odd_file_names(tmp_path):
    clip = make_clip(tmp_path / "my clip – été 映画.mp4", seconds=1.0)
    info = probe(clip)
    assert len(load_audio(info)) == SAMPLE_RATE
    assert len(list(iter_frames(info, 4, 320))) == 4


def test_bad_files_are_one_line_errors_naming_the_file(tmp_path):
    good = make_clip(tmp_path / "good.mp4", seconds=2.0)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[:2000])
    junk = tmp_path / "junk.mkv"
    junk.write_bytes(b"not a video at all" * 10)
    empty = tmp_path / "empty.mp4"
    empty.touch()
    cases = {truncated: "not a readable media file", junk: "not a readable media file", empty: "empty file",
             tmp_path / "absent.mp4": "file not found"}
    for path, reason in cases.items():
        with pytest.raises(MediaError) as error:
            probe(path)
        assert str(path) in str(error.value) and reason in str(error.value)
        assert "\n" not in str(error.value)


def test_portrait_rotation_swaps_the_frame_size(tmp_path):
    clip = make_clip(tmp_path / "landscape.mp4", seconds=1.0, audio=None)
    rotated = tmp_path / "portrait.mp4"
    ffmpeg("-display_rotation", "90", "-i", str(clip), "-c", "copy", str(rotated))
    info = probe(rotated)
    assert (info.width, info.height) == (240, 320)
    _, frame = next(iter_frames(info, 2, 320))
    assert frame.shape == (320, 240, 3)
