"""Acoustic features: openSMILE low-level descriptors with their frame times.

eGeMAPSv02 gives 25 LLDs and ComParE_2016 65 per 10 ms frame (20/60 ms windows). With
`fps > 0` the frames are averaged into consecutive windows of 1/fps seconds.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .clip import ModalityFeatures
from .media import SAMPLE_RATE
from .settings import AcousticSettings

EXTRACTOR = "opensmile"


@lru_cache(maxsize=2)
def smile(feature_set: str):
    import opensmile

    if feature_set not in opensmile.FeatureSet.__members__:
        known = ", ".join(opensmile.FeatureSet.__members__)
        raise ValueError(f"features.audio.feature_set: unknown openSMILE feature set {feature_set!r} (known: {known})")
    return opensmile.Smile(opensmile.FeatureSet[feature_set], opensmile.FeatureLevel.LowLevelDescriptors)


def acoustic_features(audio: np.ndarray, settings: AcousticSettings) -> ModalityFeatures:
    """LLDs of `audio` ((samples,) float32, 16 kHz): values (T, d), times (T, 2)."""
    frame = smile(settings.feature_set).process_signal(audio, SAMPLE_RATE)
    values = frame.to_numpy(np.float32)  # (T, d)
    starts = frame.index.get_level_values("start").total_seconds().to_numpy()
    ends = frame.index.get_level_values("end").total_seconds().to_numpy()
    times = np.stack([starts, ends], axis=1).astype(np.float32)  # (T, 2)
    if settings.fps > 0:
        values, times = average_windows(values, times, 1.0 / settings.fps)
    described = {"feature_set": settings.feature_set, "level": "lld", "fps": settings.fps or 100.0}
    return ModalityFeatures(np.ascontiguousarray(values), times, EXTRACTOR, settings.feature_set, described)


def average_windows(values: np.ndarray, times: np.ndarray, window: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the frames whose start falls in each consecutive `window` seconds; empty windows dropped."""
    bins = np.floor(times[:, 0] / window).astype(np.int64)  # (T,)
    kept, inverse, counts = np.unique(bins, return_inverse=True, return_counts=True)
    sums = np.zeros((len(kept), values.shape[1]), np.float64)
    np.add.at(sums, inverse, values)
    means = (sums / counts[:, None]).astype(np.float32)  # (W, d)
    spans = np.stack([kept * window, (kept + 1) * window], axis=1).astype(np.float32)  # (W, 2)
    return means, spans
