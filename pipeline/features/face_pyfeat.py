"""The face backend `pyfeat` (registry.FACE): py-feat's Detectorv2 (or v1) action units, emotions and
head pose of the most confident face per frame. py-feat needs torch 2.14.1, so it runs in its own
environment (.venv-face); here it is imported only when a clip is read.
"""
from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from itertools import islice

import numpy as np

from .clip import ModalityFeatures
from .config import FaceConfig
from .face import sampled_features
from .media import MediaInfo


def pyfeat_features(info: MediaInfo, settings: FaceConfig) -> ModalityFeatures:
    return sampled_features(info, settings, _pyfeat)


def pyfeat_width(settings: FaceConfig) -> int:
    raise ValueError(f"features.face.backend {settings.backend}: its width is known once features are "
                     "extracted; build the store (`dvc repro tensors`) and run this again")


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


def _pyfeat(frames: Iterator[tuple[float, np.ndarray]], settings: FaceConfig) -> tuple[np.ndarray, np.ndarray, str, list[str]]:
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
