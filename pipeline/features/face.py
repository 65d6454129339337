"""Facial features per sampled video frame; frames with no face are kept, zero-filled and marked.

Backends:
- `opencv` (core environment): OpenCV Haar cascades for the face, the eyes and the smile, face
  geometry and motion (16 values, GEOMETRY_COLUMNS), and the facial expression of the face crop —
  7 probabilities and their valence from a trained network (expression.py; 8 values): 24 values
  per frame (FACE_COLUMNS), the expression part left out with `expression_model: ""`. The crops of
  a clip go through the expression network in one batch.
- `pyfeat` (its own environment: py-feat needs torch 2.14.1): py-feat's Detectorv2 (or v1)
  action units, emotions and head pose of the most confident face per frame.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from itertools import islice

import cv2
import numpy as np

from .clip import ModalityFeatures
from .expression import COLUMNS as EXPRESSION_COLUMNS
from .expression import crop as expression_crop
from .expression import expressions, model_digest
from .media import MediaInfo, iter_frames
from .settings import FaceSettings

GEOMETRY_COLUMNS = (
    "face_x", "face_y", "face_w", "face_h",  # box centre and size, as fractions of the frame
    "eyes", "eye_distance", "eye_tilt",  # eyes found (0-2), their distance / face width, angle (rad)
    "smile", "smile_width",  # a smile found (0/1), its width / face width
    "brightness", "contrast",  # mean and std of the face's grey levels, in [0, 1]
    "move_x", "move_y", "scale_change",  # face motion since the previous frame with a face
    "face_motion",  # mean absolute change of the face crop since that frame, in [0, 1]
    "faces",  # how many faces the cascade found
)
FACE_COLUMNS = (*GEOMETRY_COLUMNS, *EXPRESSION_COLUMNS)
CROP = 64  # side of the face crop compared between frames
EYE_SEARCH = 128  # side of the face image the eye and smile cascades search
SCALE_STEP = 1.2  # cascade pyramid step: half the time of 1.1; the test face is still found with its eyes and smile


def face_model_digest(settings: FaceSettings) -> str:
    """What of the face pass's models its cache key needs beyond the settings: the expression network's file."""
    return model_digest(settings.expression_model) if settings.backend == "opencv" else ""


def face_features(info: MediaInfo, settings: FaceSettings) -> ModalityFeatures:
    frames = iter_frames(info, settings.fps, settings.max_side)
    if settings.backend == "pyfeat":
        values, face, model, columns = _pyfeat(frames, settings)
    else:
        values, face = opencv_features((frame for _, frame in frames), settings.expression_model)
        model = "haarcascade_frontalface_default+eye+smile" + (f"+{settings.expression_model}" if settings.expression_model else "")
        columns = list(FACE_COLUMNS if settings.expression_model else GEOMETRY_COLUMNS)
    starts = np.arange(len(values), dtype=np.float32) / settings.fps
    times = np.stack([starts, starts + 1 / settings.fps], axis=1)  # (T, 2)
    described = {"backend": settings.backend, "fps": settings.fps, "max_side": settings.max_side, "columns": columns}
    return ModalityFeatures(values, times, settings.backend, model, described, face)


@lru_cache(maxsize=1)
def cascades() -> tuple[cv2.CascadeClassifier, cv2.CascadeClassifier, cv2.CascadeClassifier]:
    folder = cv2.data.haarcascades
    names = ("haarcascade_frontalface_default.xml", "haarcascade_eye.xml", "haarcascade_smile.xml")
    return tuple(cv2.CascadeClassifier(folder + name) for name in names)


def opencv_features(frames: Iterable[np.ndarray], expression_model: str = "") -> tuple[np.ndarray, np.ndarray]:
    """(T, 24) float32 features — (T, 16) without `expression_model` — and (T,) bool face found,
    from (H, W, 3) BGR frames."""
    face_cascade, eye_cascade, smile_cascade = cascades()
    rows, found, crops = [], [], []
    previous: tuple[np.ndarray, np.ndarray] | None = None  # (box, crop) of the last frame with a face
    for frame in frames:
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        height, width = grey.shape
        boxes = face_cascade.detectMultiScale(grey, SCALE_STEP, 5, minSize=(max(24, min(height, width) // 10),) * 2)
        row = np.zeros(len(GEOMETRY_COLUMNS), np.float32)
        found.append(len(boxes) > 0)
        if len(boxes):
            x, y, w, h = max(boxes, key=lambda b: b[2] * b[3])
            face = grey[y : y + h, x : x + w]
            box = np.array([(x + w / 2) / width, (y + h / 2) / height, w / width, h / height], np.float32)
            row[0:4] = box
            # Eyes and smiles are searched in a fixed-size face: the cascades need ~20 px eyes.
            large = cv2.resize(face, (EYE_SEARCH, EYE_SEARCH), interpolation=cv2.INTER_LINEAR)
            row[4:7] = _eyes(eye_cascade, large[: EYE_SEARCH * 5 // 8])
            row[7:9] = _smile(smile_cascade, large[EYE_SEARCH // 2 :])
            row[9:11] = face.mean() / 255, face.std() / 255
            crop = cv2.resize(face, (CROP, CROP), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
            if previous is not None:
                row[11:13] = box[:2] - previous[0][:2]
                row[13] = np.log(box[2] / previous[0][2])
                row[14] = np.abs(crop - previous[1]).mean()
            row[15] = len(boxes)
            previous = (box, crop)
            if expression_model:
                crops.append(expression_crop(grey, (x, y, w, h)))
        rows.append(row)
    found = np.array(found, bool)
    values = np.array(rows, np.float32).reshape(-1, len(GEOMETRY_COLUMNS))  # (T, 16)
    if not expression_model:
        return values, found
    expressed = np.zeros((len(values), len(EXPRESSION_COLUMNS)), np.float32)  # (T, 8): 0 where no face
    expressed[found] = expressions(np.stack(crops) if crops else np.zeros((0, 64, 64), np.uint8), expression_model)
    return np.concatenate([values, expressed], axis=1), found


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


def _batches(frames: Iterator[tuple[float, np.ndarray]], size: int) -> Iterator[list[np.ndarray]]:
    while batch := [frame for _, frame in islice(frames, size)]:
        yield batch


@lru_cache(maxsize=1)
def pyfeat_detector(version: str):
    try:
        import feat
    except ImportError:
        raise ValueError(
            "features.face.backend pyfeat: py-feat is not installed here; it needs torch 2.14.1, so install it in "
            "its own environment (`python -m venv .venv-face && .venv-face/bin/pip install -e '.[face]'`)"
        ) from None
    if version not in ("", "v1", "v2"):
        raise ValueError(f"features.face.model: expected v1 or v2 for py-feat, got {version!r}")
    return feat.Detectorv1(device="cpu") if version == "v1" else feat.Detectorv2(device="cpu", identity_model=None)


def _pyfeat(frames: Iterator[tuple[float, np.ndarray]], settings: FaceSettings) -> tuple[np.ndarray, np.ndarray, str, list[str]]:
    """py-feat's AUs, emotions and pose of the most confident face per frame, and their column names.

    py-feat 2.x keeps a frame with no face as one row with a NaN box and NaN predictions: NaN rows
    mean no face.
    """
    import torch

    detector = pyfeat_detector(settings.model)
    rows: list[np.ndarray] = []
    columns: list[str] = []
    for batch in _batches(frames, 16):
        images = torch.from_numpy(np.stack([f[..., ::-1] for f in batch])).permute(0, 3, 1, 2).contiguous()  # (B, 3, H, W) RGB
        fex = detector.detect(images, data_type="tensor", batch_size=len(batch), progress_bar=False)
        columns = list(fex.au_columns) + list(fex.emotion_columns) + list(fex.facepose_columns)
        for index in range(len(batch)):
            faces = fex[fex["frame"] == index]
            best = faces.loc[faces["FaceScore"].idxmax()] if faces["FaceScore"].notna().any() else None
            rows.append(np.full(len(columns), np.nan) if best is None else best[columns].to_numpy(np.float64))
    values = np.array(rows, np.float32).reshape(len(rows), len(columns))  # (T, d)
    face = ~np.isnan(values).any(axis=1)
    values[~face] = 0.0
    return values, face, f"py-feat {type(detector).__name__}", columns
