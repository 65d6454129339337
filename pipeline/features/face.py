"""Facial features per sampled video frame; frames with no face are kept, zero-filled and marked.

Backends:
- `opencv` (core environment): a face detector (`features.face.detector`, face_detectors.py), the
  face's geometry and motion, and the facial expression of the face crop — 7 probabilities and
  their valence from a trained network (expression.py; 8 values), left out with
  `expression_model: ""`. The crops of a clip go through the expression network in one batch.
  - `retinaface` (default): the five landmarks give the crop, aligned on a fixed five-point
    template (ALIGNED_LANDMARKS: upright, eyes level, the face at a fixed size), and the geometry
    LANDMARK_COLUMNS: 18 values, 26 per frame with expressions.
  - `haar`: the face box widened by 10 % is the crop, unaligned; eyes and smile come from OpenCV's
    eye and smile cascades inside the box, HAAR_COLUMNS: 16 values, 24 per frame with expressions.
- `pyfeat` (face_pyfeat.py; its own environment: py-feat needs torch 2.14.1).

Every backend reads the frames `sampled_features` gives it (registry.FACE names them).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import cv2
import numpy as np

from .clip import ModalityFeatures
from .config import FaceConfig
from .expression import COLUMNS as EXPRESSION_COLUMNS
from .expression import SIDE
from .expression import crop as expression_crop
from .expression import expressions, model_digest
from .face_detectors import SCALE_STEP, Face, cascades, detector_digest, face_detector
from .media import MediaInfo, iter_frames

BOX_COLUMNS = ("face_x", "face_y", "face_w", "face_h")  # box centre and size, as fractions of the frame
SHARED_COLUMNS = (
    "brightness", "contrast",  # mean and std of the face box's grey levels, in [0, 1]
    "move_x", "move_y", "scale_change",  # face motion since the previous frame with a face
    "face_motion",  # mean absolute change of the face crop since that frame, in [0, 1]
    "faces",  # how many faces the detector found
)
HAAR_COLUMNS = (
    *BOX_COLUMNS,
    "eyes", "eye_distance", "eye_tilt",  # eyes found (0-2), their distance / face width, angle (rad)
    "smile", "smile_width",  # a smile found (0/1), its width / face width
    *SHARED_COLUMNS,
)
LANDMARK_COLUMNS = (
    *BOX_COLUMNS,
    "score",  # the detector's confidence
    "roll",  # angle of the eye line (rad): the head tilted toward a shoulder
    "yaw",  # the nose's offset from the eyes' midpoint along the eye line / eye distance: 0 frontal, ± turned
    "pitch",  # the nose's depth between the eye line (0) and the mouth line (1): the head nodding
    "eye_distance",  # / face width
    "mouth_width",  # mouth corners' distance / eye distance: wider in a smile
    "mouth_dark",  # how much darker the strip between the mouth corners is than the face, in face stds: an open mouth is dark
    *SHARED_COLUMNS,
)
GEOMETRY_COLUMNS = {"retinaface": LANDMARK_COLUMNS, "haar": HAAR_COLUMNS}
CROP = 64  # side of the face crop compared between frames
EYE_SEARCH = 128  # side of the face image the eye and smile cascades search
# Where the aligned crop puts the five landmarks (LANDMARKS order), as fractions of its side: where
# they fall in the Haar crop of the frontal astronaut photo, made symmetric, so the expression network
# sees faces framed as before, upright.
ALIGNED_LANDMARKS = np.array([(0.31, 0.39), (0.69, 0.39), (0.50, 0.63), (0.32, 0.73), (0.68, 0.73)])

def face_columns(settings: FaceConfig) -> tuple[str, ...]:
    """The names of the opencv backend's columns for these settings."""
    return GEOMETRY_COLUMNS[settings.detector] + (EXPRESSION_COLUMNS if settings.expression_model else ())


def face_model_digest(settings: FaceConfig) -> str:
    """What of the `opencv` backend's models its cache key needs beyond the settings: the detector's and
    the expression network's weights."""
    return model_digest(settings.expression_model) + detector_digest(settings)


# (frames, settings) -> (T, d) values, (T,) face found, the model's name, the column names
FaceRows = Callable[[Iterator[tuple[float, np.ndarray]], FaceConfig], tuple[np.ndarray, np.ndarray, str, list[str]]]


def sampled_features(info: MediaInfo, settings: FaceConfig, rows: FaceRows) -> ModalityFeatures:
    """A backend's rows of the frames sampled at `fps`, each spanning 1/fps seconds."""
    values, face, model, columns = rows(iter_frames(info, settings.fps, settings.max_side), settings)
    starts = np.arange(len(values), dtype=np.float32) / settings.fps
    times = np.stack([starts, starts + 1 / settings.fps], axis=1)  # (T, 2)
    described = {"backend": settings.backend, "fps": settings.fps, "max_side": settings.max_side, "columns": columns}
    return ModalityFeatures(values, times, settings.backend, model, described, face)


def face_features(info: MediaInfo, settings: FaceConfig) -> ModalityFeatures:
    """The `opencv` backend's features of a clip."""
    return sampled_features(info, settings, _opencv_rows)


def face_width(settings: FaceConfig) -> int:
    return len(face_columns(settings))


def _opencv_rows(frames: Iterator[tuple[float, np.ndarray]], settings: FaceConfig) -> tuple[np.ndarray, np.ndarray, str, list[str]]:
    values, face = opencv_features((frame for _, frame in frames), settings)
    detector = "haarcascade_frontalface_default+eye+smile" if settings.detector == "haar" else f"retinaface:{settings.detector_model}"
    model = detector + (f"+{settings.expression_model}" if settings.expression_model else "")
    return values, face, model, list(face_columns(settings))


def opencv_features(frames: Iterable[np.ndarray], settings: FaceConfig) -> tuple[np.ndarray, np.ndarray]:
    """(T, len(face_columns(settings))) float32 features and (T,) bool face found, from (H, W, 3) BGR frames."""
    import torch  # its thread count is this process's share (pipeline.threads)

    detect = face_detector(settings, torch.get_num_threads())
    width_of_row = len(GEOMETRY_COLUMNS[settings.detector])
    rows, found, crops = [], [], []
    previous: tuple[np.ndarray, np.ndarray] | None = None  # (box, crop) of the last frame with a face
    for frame in frames:
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        faces = detect(frame, grey)
        found.append(bool(faces))
        if not faces:
            rows.append(np.zeros(width_of_row, np.float32))
            continue
        face = max(faces, key=lambda f: f.area)
        box, pixels = _box(face, grey)
        if face.landmarks is None:
            middle, expression, crop = _haar_geometry(pixels), expression_crop(grey, face.box), _resized(pixels)
        else:
            expression = aligned_crop(grey, face.landmarks)
            middle, crop = _landmark_geometry(face, expression), expression.astype(np.float32) / 255
        motion = np.zeros(4, np.float32)
        if previous is not None:
            motion[:2] = box[:2] - previous[0][:2]
            motion[2] = np.log(box[2] / previous[0][2])
            motion[3] = np.abs(crop - previous[1]).mean()
        rows.append(np.concatenate([box, middle, [pixels.mean() / 255, pixels.std() / 255], motion, [len(faces)]]).astype(np.float32))
        previous = (box, crop)
        crops.append(expression)
    found = np.array(found, bool)
    values = np.array(rows, np.float32).reshape(-1, width_of_row)  # (T, geometry)
    if not settings.expression_model:
        return values, found
    expressed = np.zeros((len(values), len(EXPRESSION_COLUMNS)), np.float32)  # (T, 8): 0 where no face
    expressed[found] = expressions(np.stack(crops) if crops else np.zeros((0, SIDE, SIDE), np.uint8), settings.expression_model)
    return np.concatenate([values, expressed], axis=1), found


def _box(face: Face, grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The box as fractions of the frame (centre x, y, width, height), and its grey pixels inside the frame."""
    height, width = grey.shape
    x, y, w, h = face.box
    box = np.array([(x + w / 2) / width, (y + h / 2) / height, w / width, h / height], np.float32)
    return box, grey[max(0, y): y + h, max(0, x): x + w]


def _resized(pixels: np.ndarray) -> np.ndarray:
    return cv2.resize(pixels, (CROP, CROP), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def _haar_geometry(pixels: np.ndarray) -> np.ndarray:
    """Eyes (3) and smile (2) from OpenCV's cascades, searched in a fixed-size face: they need ~20 px eyes."""
    _, eye_cascade, smile_cascade = cascades()
    large = cv2.resize(pixels, (EYE_SEARCH, EYE_SEARCH), interpolation=cv2.INTER_LINEAR)
    return np.array([*_eyes(eye_cascade, large[: EYE_SEARCH * 5 // 8]), *_smile(smile_cascade, large[EYE_SEARCH // 2:])], np.float32)


def alignment(landmarks: np.ndarray, side: int = SIDE) -> np.ndarray:
    """(2, 3) similarity transform (rotation, one scale, shift) taking `landmarks` ((5, 2) pixels) the
    nearest, in least squares, to ALIGNED_LANDMARKS of a side × side crop.

    All five points, not the eyes alone: a turned head's eyes come closer together, and a crop scaled
    by their distance alone zooms in past the mouth (bench/face_detectors.py measured it)."""
    source, target = landmarks.astype(np.float64), ALIGNED_LANDMARKS * side
    p, q = source - source.mean(0), target - target.mean(0)
    norm = (p**2).sum()
    a = (p * q).sum() / norm  # s·cos(angle)
    b = (p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0]).sum() / norm  # s·sin(angle)
    rotation = np.array([[a, -b], [b, a]])
    return np.hstack([rotation, (target.mean(0) - rotation @ source.mean(0))[:, None]])


def aligned_crop(grey: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(SIDE, SIDE) uint8: the face rotated, scaled and shifted onto ALIGNED_LANDMARKS: upright, eyes level."""
    return cv2.warpAffine(grey, alignment(landmarks), (SIDE, SIDE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _landmark_geometry(face: Face, aligned: np.ndarray) -> np.ndarray:
    """score, roll, yaw, pitch, eye_distance, mouth_width, mouth_dark from the five landmarks."""
    left, right, nose, mouth_left, mouth_right = face.landmarks.astype(np.float64)
    eye_line, middle = right - left, (left + right) / 2
    eyes = max(np.linalg.norm(eye_line), 1e-6)
    along = eye_line / eyes
    across = np.array([-along[1], along[0]])  # perpendicular, pointing down the face
    mouth = (mouth_left + mouth_right) / 2
    pitch = (nose - middle) @ across / max((mouth - middle) @ across, 1e-6)
    return np.array([face.score, np.arctan2(eye_line[1], eye_line[0]), (nose - middle) @ along / eyes, pitch,
                     eyes / face.box[2], np.linalg.norm(mouth_right - mouth_left) / eyes,
                     _mouth_dark(aligned, face.landmarks)], np.float32)


def _mouth_dark(aligned: np.ndarray, landmarks: np.ndarray) -> float:
    """How much darker than the whole aligned crop the strip between the mouth corners is, in the crop's stds."""
    corners = cv2.transform(landmarks[None, 3:5].astype(np.float64), alignment(landmarks))[0]  # (2, 2) in the crop
    (x0, x1), y = np.sort(corners[:, 0]), corners[:, 1].mean()
    half = max(2.0, (x1 - x0) / 5)  # the strip is as tall as 40 % of the mouth's width
    strip = aligned[int(max(0, y - half)): int(y + half) + 1, int(max(0, x0)): int(x1) + 1]
    if not strip.size:
        return 0.0
    return float((aligned.mean() - strip.mean()) / max(aligned.std(), 1.0))


def _eyes(cascade: cv2.CascadeClassifier, upper: np.ndarray) -> tuple[float, float, float]:
    side = upper.shape[1]
    eyes = cascade.detectMultiScale(upper, SCALE_STEP, 5, minSize=(max(8, side // 8),) * 2)
    eyes = sorted(eyes, key=lambda e: e[2] * e[3], reverse=True)[:2]
    if len(eyes) < 2:
        return float(len(eyes)), 0.0, 0.0
    (x1, y1, w1, h1), (x2, y2, w2, h2) = sorted(eyes, key=lambda e: e[0])
    dx = (x2 + w2 / 2) - (x1 + w1 / 2)
    dy = (y2 + h2 / 2) - (y1 + h1 / 2)
    return 2.0, float(np.hypot(dx, dy) / side), float(np.arctan2(dy, dx))


def _smile(cascade: cv2.CascadeClassifier, lower: np.ndarray) -> tuple[float, float]:
    side = lower.shape[1]
    # The smile cascade fires on most mouths at low thresholds: 20 neighbours keeps real smiles.
    smiles = cascade.detectMultiScale(lower, 1.1, 20, minSize=(max(10, side // 4), max(6, side // 10)))
    if len(smiles) == 0:
        return 0.0, 0.0
    return 1.0, float(max(s[2] for s in smiles) / side)
