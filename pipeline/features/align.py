"""Word-level alignment, the CMU "aligned" convention: each modality averaged inside each word's span.

Every aligned modality gets one row per word, timed by the word. A word whose span holds no
frame of a modality gets zeros there; for vision only frames with a face are averaged, and the
word is marked face-less when none of its frames had one.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .clip import ModalityFeatures, Word


def align_to_words(features: ModalityFeatures, words: list[Word]) -> ModalityFeatures:
    spans = np.array([(w.start, w.end) for w in words], np.float32).reshape(-1, 2)  # (W, 2)
    usable = np.ones(len(features.values), bool) if features.face is None else features.face  # (T,)
    # A frame belongs to a word when their spans overlap; zero-length words catch the frame around them.
    starts, ends = features.times[:, 0], features.times[:, 1]  # (T,)
    inside = (starts[None, :] < np.maximum(spans[:, 1:2], spans[:, 0:1] + 1e-6)) & (ends[None, :] > spans[:, 0:1])  # (W, T)
    inside &= usable[None, :]
    counts = inside.sum(axis=1)  # (W,)
    dim = features.values.shape[1] if features.values.ndim == 2 else 0
    values = (inside.astype(np.float32) @ features.values.reshape(-1, dim)) / np.maximum(counts, 1)[:, None]  # (W, d)
    face = None if features.face is None else counts > 0
    settings = {**features.settings, "aligned": "words"}
    return replace(features, values=values.astype(np.float32), times=spans, settings=settings, face=face)
