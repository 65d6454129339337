"""The facial expression network of the default face pass: the real trained weights `fer` carries."""
from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from skimage import data

from pipeline.features.config import FaceConfig, settings_key
from pipeline.features.expression import COLUMNS, EXPRESSIONS, crop, expressions, model_file
from pipeline.features.face import GEOMETRY_COLUMNS, face_columns, face_features, face_model_digest
from pipeline.features.media import probe

from .features_support import face_png, ffmpeg


def astronaut_crop() -> np.ndarray:
    grey = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    boxes = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml").detectMultiScale(grey, 1.1, 5)
    return crop(grey, tuple(max(boxes, key=lambda b: b[2] * b[3])))


def test_a_smiling_face_is_happy():
    row = expressions(astronaut_crop()[None], "fer")[0]
    probabilities = dict(zip(EXPRESSIONS, row[:7]))
    assert max(probabilities, key=probabilities.get) == "happy" and probabilities["happy"] >= 0.9
    assert row[:7].sum() == pytest.approx(1.0, abs=1e-4) and row[COLUMNS.index("valence")] > 0.8


def test_probabilities_only_on_the_frames_with_a_face(tmp_path):
    """2 s at 5 fps: the astronaut in the first and last 0.8 s, a grey frame between."""
    face, grey = face_png(tmp_path / "face.png"), tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.full((320, 320, 3), 128, np.uint8))  # the size of face_png: concat needs one
    clip = tmp_path / "clip.mp4"
    ffmpeg("-loop", "1", "-t", "0.8", "-framerate", "5", "-i", str(face), "-loop", "1", "-t", "0.4", "-framerate", "5", "-i", str(grey),
           "-loop", "1", "-t", "0.8", "-framerate", "5", "-i", str(face),
           "-filter_complex", "[0:v][1:v][2:v]concat=n=3:v=1[v]", "-map", "[v]", "-pix_fmt", "yuv420p", str(clip))
    features = face_features(probe(clip), FaceConfig(fps=5))
    geometry = len(GEOMETRY_COLUMNS["retinaface"])
    assert features.values.shape == (10, len(face_columns(FaceConfig()))) and features.face.tolist() == [True] * 4 + [False] * 2 + [True] * 4
    expressed = features.values[:, geometry:]  # (T, 8)
    assert np.allclose(expressed[features.face, :7].sum(1), 1.0, atol=1e-4) and not expressed[~features.face].any()
    assert (expressed[features.face, EXPRESSIONS.index("happy")] > 0.5).all()
    assert features.settings["columns"] == list(face_columns(FaceConfig())) and "+fer" in features.model
    plain = face_features(probe(clip), FaceConfig(fps=5, expression_model=""))  # off: the geometry alone
    assert plain.values.shape == (10, geometry) and np.array_equal(plain.values, features.values[:, :geometry])


def test_the_face_cache_key_changes_with_the_model(tmp_path):
    copy = tmp_path / "same.hdf5"
    shutil.copyfile(model_file("fer"), copy)
    other = tmp_path / "other.hdf5"
    other.write_bytes(model_file("fer").read_bytes()[:-1] + b"\x00")
    keys = {name: settings_key(FaceConfig(expression_model=name), face_model_digest(FaceConfig(expression_model=name)))
            for name in ("fer", str(copy), str(other), "")}
    assert len(set(keys.values())) == 4
    # The same file renamed gives the same weights digest; a changed byte another one.
    assert face_model_digest(FaceConfig(expression_model=str(copy))) == face_model_digest(FaceConfig())
    assert face_model_digest(FaceConfig(expression_model=str(other))) != face_model_digest(FaceConfig())


def test_a_missing_model_is_one_line_that_says_how_to_get_it(tmp_path):
    with pytest.raises(ValueError, match=r"features.face.expression_model: .*is neither `fer` nor a .h5"):
        model_file(str(tmp_path / "nope.h5"))
