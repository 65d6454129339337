"""The embedded demo corpus raw/demo/ (issue 5): real-format, complete, balanced, small, with faces.

It is read the way the pipeline reads a dataset: `label.csv` by the features stage's reader, each
clip probed (`ffmpeg -i`, imageio-ffmpeg's binary) and decoded by `pipeline.features.media`, and
its frames searched by the OpenCV Haar face cascade that the `opencv` face backend uses.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.features.dataset import Row, find_media, read_label_csv
from pipeline.features.face import cascades
from pipeline.features.media import MediaInfo, iter_frames, probe

DEMO = Path(__file__).parents[1] / "raw" / "demo"
COLUMNS = ["video_id", "clip_id", "text", "label", "mode"]
SPLITS = {"train", "valid", "test"}
MAX_BYTES = 5 * 1024 * 1024
SAMPLE_FPS = 2.0  # frames checked per second of video: neighbours at 12 fps are near copies
MIN_FACE = (40, 40)  # pixels; the demo's face is ~75 px wide in its 160 px frames, and a smaller
# minimum only makes the cascade slower (~10-40 ms a frame on this machine)


def polarity(label: float) -> str:
    """The demo's bands: positive 1..3, negative -3..-1, neutral -0.6..0.6 (none in between)."""
    if label >= 1.0:
        return "positive"
    if label <= -1.0:
        return "negative"
    assert abs(label) <= 0.6, f"label {label} is in no polarity band"
    return "neutral"


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    rows, bad, columns = read_label_csv(DEMO)
    assert columns == COLUMNS
    assert bad == []
    return rows


@pytest.fixture(scope="module")
def clips(rows) -> dict[str, MediaInfo]:
    return {f"{r.video_id}/{r.clip_id}": probe(DEMO / r.video_id / f"{r.clip_id}.mp4") for r in rows}


def test_labels_are_well_formed(rows):
    assert len(rows) >= 24
    for r in rows:
        assert r.text and r.text.strip(), r
        assert -3.0 <= float(r.label) <= 3.0, r
        assert r.mode in SPLITS, r
    assert 6 <= len({r.video_id for r in rows}) <= 10


def test_every_clip_exists_and_nothing_else(rows):
    listed = {DEMO / r.video_id / f"{r.clip_id}.mp4" for r in rows}
    assert [find_media(DEMO, r) for r in rows] == [DEMO / r.video_id / f"{r.clip_id}.mp4" for r in rows]
    assert set(DEMO.glob("*/*.mp4")) == listed, "a clip on disk is not in label.csv"


def test_splits_are_non_empty_balanced_and_speaker_independent(rows):
    counts = Counter((r.mode, polarity(float(r.label))) for r in rows)
    for split in SPLITS:
        per_polarity = [counts[split, p] for p in ("positive", "negative", "neutral")]
        assert min(per_polarity) >= 1, (split, per_polarity)
        assert max(per_polarity) - min(per_polarity) <= 1, (split, per_polarity)
    split_of_video = {}
    for r in rows:
        assert split_of_video.setdefault(r.video_id, r.mode) == r.mode, f"{r.video_id} is in two splits"


def test_clips_last_2_to_5_seconds_with_audio_and_video(clips):
    for clip, info in clips.items():
        assert 2.0 <= info.duration <= 5.0, (clip, info.duration)
        assert info.has_audio and info.has_video, clip


def test_frames_show_a_face_that_moves(clips):
    face_cascade = cascades()[0]
    found = total = 0
    for clip, info in clips.items():
        frames = iter_frames(info, SAMPLE_FPS, max_side=160)
        grey = np.stack([cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) for _, frame in frames])  # (T, H, W) uint8
        assert len(grey) >= 2 * SAMPLE_FPS, (clip, len(grey))
        change = np.abs(np.diff(grey.astype(np.int16), axis=0)).mean()
        assert change > 2.0, f"{clip}: the frames barely change (mean |Δ| {change:.2f})"
        found += sum(len(face_cascade.detectMultiScale(g, 1.1, 5, minSize=MIN_FACE)) > 0 for g in grey)
        total += len(grey)
    assert found / total >= 0.9, f"Haar finds a face in only {found}/{total} frames"


def test_corpus_is_under_5_mb():
    size = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert size < MAX_BYTES, f"raw/demo is {size / 1e6:.2f} MB"
