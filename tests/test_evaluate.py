"""Seed summaries and confusion matrices on hand-made numbers."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.evaluate import confusion, plot_confusion, plot_scatter, summarize


def test_summary_is_mean_sample_std_and_per_seed():
    summary = summarize({1111: {"mae": 1.0, "corr": 0.5}, 1112: {"mae": 2.0, "corr": 0.7}, 1113: {"mae": 3.0, "corr": 0.6}})
    # mae: mean 2, sample std sqrt(((1-2)² + 0 + (3-2)²) / 2) = 1; corr: mean .6, std .1
    assert summary["mae"] == pytest.approx(2.0) and summary["mae_std"] == pytest.approx(1.0)
    assert summary["corr"] == pytest.approx(0.6) and summary["corr_std"] == pytest.approx(0.1)
    assert summary["per_seed"]["1112"] == {"mae": 2.0, "corr": 0.7}


def test_one_seed_has_zero_std():
    assert summarize({7: {"mae": 0.8}})["mae_std"] == 0.0


def test_confusion_mosi_rounds_and_clips():
    y_true = np.array([-3.0, 0.4, 2.5, 1.5])  # classes 0, 3, 5 (2.5 → 2, half to even), 5
    y_pred = np.array([-9.0, -0.6, 2.4, 3.4])  # classes 0, 2, 5, 6 (clipped to 3)
    matrix = confusion(y_true, y_pred, "mosi")
    assert matrix.shape == (7, 7) and matrix.sum() == 4
    assert matrix[0, 0] == 1 and matrix[3, 2] == 1 and matrix[5, 5] == 1 and matrix[5, 6] == 1


def test_confusion_sims_uses_five_bins():
    matrix = confusion(np.array([-1.0, 0.1, 0.75]), np.array([-0.7, 0.0, 1.0]), "sims")
    # -1 and -.7 → bin 0; .1 and 0 → bin 2 (edge in the lower bin); .75 and 1 → bin 4
    assert matrix.shape == (5, 5) and matrix[0, 0] == 1 and matrix[2, 2] == 1 and matrix[4, 4] == 1


def test_plots_are_written_as_png(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.uniform(-3, 3, 50)
    plot_scatter(tmp_path / "s.png", y, y + rng.normal(0, 0.5, 50), "valid")
    plot_confusion(tmp_path / "c.png", confusion(y, y, "mosi"), "mosi", "valid")
    for name in ("s.png", "c.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (tmp_path / name).stat().st_size > 5000
