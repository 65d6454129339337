"""Facial features, offline backend: a real face (the astronaut photo) vs. a test pattern, frames kept and marked."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.features.face import FACE_COLUMNS, face_features
from pipeline.features.media import probe
from pipeline.features.settings import FaceSettings

from .features_support import make_clip


def test_face_found_with_eyes_and_smile(tmp_path):
    clip = make_clip(tmp_path / "face.mp4", seconds=2.0, video="face", audio=None)
    features = face_features(probe(clip), FaceSettings(fps=4))
    assert features.values.shape == (8, len(FACE_COLUMNS)) and features.face.all()
    row = dict(zip(FACE_COLUMNS, features.values[0]))
    assert 0.35 < row["face_x"] < 0.55 and 0.1 < row["face_y"] < 0.35  # her face, upper middle
    assert row["eyes"] == 2 and row["smile"] == 1
    assert np.abs(features.values[1:, FACE_COLUMNS.index("move_x")]).max() < 0.02  # a still image barely moves
    assert features.times[:, 0].tolist() == pytest.approx([0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75])


def test_no_face_frames_are_kept_zeroed_and_marked(tmp_path):
    clip = make_clip(tmp_path / "pattern.mp4", seconds=1.0, video="testsrc", audio=None)
    features = face_features(probe(clip), FaceSettings(fps=5))
    assert len(features.values) == 5 and not features.face.any()
    assert not features.values.any()
