"""Word-level alignment: frames averaged inside each word's span (CMU "aligned")."""
from __future__ import annotations

import numpy as np

from pipeline.features.align import align_to_words
from pipeline.features.clip import ModalityFeatures, Word


def test_frames_are_averaged_per_word_and_faceless_frames_ignored():
    values = np.arange(8, dtype=np.float32).reshape(4, 2)  # (4, 2): frames at 0, 0.5, 1.0, 1.5 s
    times = np.array([[0, 0.5], [0.5, 1.0], [1.0, 1.5], [1.5, 2.0]], np.float32)
    face = np.array([True, True, False, False])
    words = [Word("hi", 0.0, 1.0), Word("there", 1.0, 2.0), Word("late", 3.0, 3.5)]
    aligned = align_to_words(ModalityFeatures(values, times, "opencv", "haar", {}, face), words)
    assert aligned.values.tolist() == [[1.0, 2.0], [0.0, 0.0], [0.0, 0.0]]
    assert aligned.face.tolist() == [True, False, False]
    assert aligned.times.tolist() == [[0.0, 1.0], [1.0, 2.0], [3.0, 3.5]]
    audio = align_to_words(ModalityFeatures(values, times, "opensmile", "eGeMAPSv02"), words)
    assert audio.values.tolist() == [[1.0, 2.0], [5.0, 6.0], [0.0, 0.0]] and audio.face is None
    assert audio.settings["aligned"] == "words"
