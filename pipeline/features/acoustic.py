"""The acoustic backend `opensmile` (registry.ACOUSTIC): openSMILE low-level descriptors with their frame times.

eGeMAPSv02 gives 25 LLDs and ComParE_2016 65 per 10 ms frame (20/60 ms windows). With
`fps > 0` the frames are averaged into consecutive windows of 1/fps seconds.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .clip import ModalityFeatures
from .config import AcousticConfig
from .media import SAMPLE_RATE

EXTRACTOR = "opensmile"
CHUNK_SECONDS = 120
CONTEXT_SECONDS = 5  # 1 s already gave eGeMAPSv02's exact frames; ComParE_2016's RASTA filter needs 2


@lru_cache(maxsize=2)
def smile(feature_set: str):
    import opensmile

    if feature_set not in opensmile.FeatureSet.__members__:
        known = ", ".join(opensmile.FeatureSet.__members__)
        raise ValueError(f"features.audio.feature_set: unknown openSMILE feature set {feature_set!r} (known: {known})")
    return opensmile.Smile(opensmile.FeatureSet[feature_set], opensmile.FeatureLevel.LowLevelDescriptors)


def acoustic_features(audio: np.ndarray, settings: AcousticConfig) -> ModalityFeatures:
    """LLDs of `audio` ((samples,) float32, 16 kHz): values (T, d), times (T, 2).

    openSMILE holds its whole output in memory (an hour of audio took 1.9 GB), so a long signal is
    processed CHUNK_SECONDS at a time, each chunk read with CONTEXT_SECONDS of audio either side
    and only its own frames kept: the LLDs are then the same as in one pass (exactly, for
    eGeMAPSv02 and ComParE_2016 on the MOSI sample; tests/test_features_acoustic.py).
    """
    values, times = [], []
    for start in range(0, max(len(audio), 1), CHUNK_SECONDS * SAMPLE_RATE):
        chunk_values, chunk_times = _chunk_llds(audio, start, settings.feature_set)
        values.append(chunk_values)
        times.append(chunk_times)
    values, times = np.concatenate(values), np.concatenate(times)  # (T, d), (T, 2)
    if settings.fps > 0:
        values, times = average_windows(values, times, 1.0 / settings.fps)
    described = {"feature_set": settings.feature_set, "level": "lld", "fps": settings.fps or 100.0}
    return ModalityFeatures(np.ascontiguousarray(values), times, *acoustic_names(settings), described)


def acoustic_names(settings: AcousticConfig) -> tuple[str, str]:
    """The (extractor, model) features.json names, also for a clip with no audio."""
    return EXTRACTOR, settings.feature_set


def acoustic_width(settings: AcousticConfig) -> int:
    return len(smile(settings.feature_set).feature_names)


def _chunk_llds(audio: np.ndarray, start: int, feature_set: str) -> tuple[np.ndarray, np.ndarray]:
    """The frames of audio[start : start + CHUNK] (their start time inside it), computed with context."""
    chunk, context = CHUNK_SECONDS * SAMPLE_RATE, CONTEXT_SECONDS * SAMPLE_RATE
    begin = max(0, start - context)
    frame = smile(feature_set).process_signal(audio[begin : start + chunk + context], SAMPLE_RATE)
    offset = begin / SAMPLE_RATE
    starts = frame.index.get_level_values("start").total_seconds().to_numpy() + offset
    ends = frame.index.get_level_values("end").total_seconds().to_numpy() + offset
    # Times are multiples of 10 ms: half a frame of tolerance keeps each frame in exactly one chunk.
    own = (starts >= start / SAMPLE_RATE - 0.005) & (starts < (start + chunk) / SAMPLE_RATE - 0.005)
    values = frame.to_numpy(np.float32)[own]  # (T, d)
    return values, np.stack([starts[own], ends[own]], axis=1).astype(np.float32)  # (T, 2)


def average_windows(values: np.ndarray, times: np.ndarray, window: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the frames whose start falls in each consecutive `window` seconds; empty windows dropped."""
    bins = np.floor(times[:, 0] / window).astype(np.int64)  # (T,)
    kept, inverse, counts = np.unique(bins, return_inverse=True, return_counts=True)
    sums = np.zeros((len(kept), values.shape[1]), np.float64)
    np.add.at(sums, inverse, values)
    means = (sums / counts[:, None]).astype(np.float32)  # (W, d)
    spans = np.stack([kept * window, (kept + 1) * window], axis=1).astype(np.float32)  # (W, 2)
    return means, spans
