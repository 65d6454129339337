"""Confidence, the seed ensemble and risk–coverage, on hand-made numbers."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.confidence import calibration, confidence, ensemble, in_words, random_ranking, risk_coverage, calibration_record


def test_risk_coverage_reads_the_most_confident_clips_first():
    errors = np.array([4.0, 1.0, 3.0, 2.0])
    sure = np.array([0.1, 0.9, 0.3, 0.5])  # the order 1, 2, 3, 4 of the errors
    ranked = risk_coverage(errors, sure)
    assert ranked["mae@25"] == 1.0 and ranked["mae@50"] == 1.5 and ranked["mae@100"] == 2.5
    assert ranked["mae@80"] == pytest.approx(2.0)  # round(.8 · 4) = 3 clips
    assert ranked["aurc"] == pytest.approx((1 + 1.5 + 2 + 2.5) / 4)
    backwards = risk_coverage(errors, -sure)
    assert backwards["aurc"] > random_ranking(errors)["aurc"] > ranked["aurc"]
    # Ties keep the clips' order: a constant confidence knows nothing.
    assert risk_coverage(errors, np.ones(4))["mae@25"] == 4.0


def test_ensemble_uses_the_heads_where_there_are_heads_else_the_spread():
    predictions = np.array([[1.0, -1.0], [3.0, -1.0]])  # (S=2, N=2)
    heads = np.array([[0.5, 0.2], [0.7, 0.4]])
    with_heads = ensemble(predictions, heads)
    assert with_heads.source == "head"
    np.testing.assert_allclose(with_heads.prediction, [2.0, -1.0])
    np.testing.assert_allclose(with_heads.expected_error, [0.6, 0.3])
    np.testing.assert_allclose(with_heads.spread, [1.0, 0.0])
    without = ensemble(predictions, None)
    assert without.source == "seed spread"
    np.testing.assert_allclose(without.confidence, [0.5, 1.0])  # 1 / (1 + spread)
    assert confidence(np.array([0.0]))[0] == 1.0


def test_calibration_bands_and_their_meaning_in_words():
    rng = np.random.default_rng(0)
    sure = rng.uniform(0.2, 0.9, 100)
    errors = (1 - sure) * 2  # the surer, the smaller the error
    bands = calibration(errors, sure, bands=4)
    assert [b.clips for b in bands] == [25, 25, 25, 25]
    assert [b.mae for b in bands] == sorted((b.mae for b in bands), reverse=True)
    members = ensemble(np.array([errors * 0]), np.array([1 / sure - 1]))
    record = calibration_record("valid", members, errors)
    words = in_words(float(sure.max()), record)
    assert words.startswith("on valid, the 25 clips this confident") and f"MAE {bands[-1].mae:.2f}" in words
    assert f"(all clips: {errors.mean():.2f})" in words
