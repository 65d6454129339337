"""Metrics of docs/model.md §10 on hand-made cases; every expected number is worked out in a comment."""

import json
import warnings

import numpy as np
import pytest
import torch

from pipeline.metrics import (
    MOSI_METRICS,
    SIMS_METRICS,
    compute_metrics,
    mosi_metrics,
    sims_metrics,
)


def test_key_lists_follow_the_spec():
    assert MOSI_METRICS == (
        "mae", "corr", "acc2_has0", "f1_has0", "acc2_non0", "f1_non0", "acc5", "acc7",
    )
    assert SIMS_METRICS == ("mae", "corr", "acc2", "acc3", "acc5", "f1")
    assert tuple(mosi_metrics([1.0, -1.0], [1.0, -1.0])) == MOSI_METRICS
    assert tuple(sims_metrics([0.5, -0.5], [0.5, -0.5])) == SIMS_METRICS


# --- MOSI / MOSEI ----------------------------------------------------------


def test_round_half_to_even_on_labels_and_predictions():
    # np.round: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0 (equal to 0).
    # Half-up would give 1, 2, 3, 0 and score 2/4; half-away-from-zero 1, 2, 3, -1 and 1/4.
    y = [0.5, 1.5, 2.5, -0.5]
    p = [0.0, 2.0, 2.0, 0.0]
    assert mosi_metrics(y, p)["acc7"] == 1.0
    assert mosi_metrics(p, y)["acc7"] == 1.0


def test_acc5_and_acc7_clip_before_rounding():
    # A prediction of 5 counts as 3 for acc7 and as 2 for acc5:
    # acc7: p -> [3, 3, -3] against y [3, 2, -3] -> 2/3.
    # acc5: p -> [2, 2, -2] against y clipped [2, 2, -2] -> 3/3.
    m = mosi_metrics([3.0, 2.0, -3.0], [5.0, 5.0, -5.0])
    assert m["acc7"] == pytest.approx(2 / 3)
    assert m["acc5"] == 1.0


def test_acc5_clips_a_half_tie_at_the_boundary():
    # y = 2.5: acc7 rounds it to 2 (half to even), which misses p = 3;
    # acc5 clips both to 2 first, a hit.
    m = mosi_metrics([2.5, -1.0], [3.0, -1.0])
    assert m["acc7"] == 0.5
    assert m["acc5"] == 1.0


def test_zero_labels_are_positive_in_has0_and_dropped_in_non0():
    y = [0.0, 1.0, -1.0, 0.0]
    p = [0.5, 2.0, 1.0, -0.2]
    m = mosi_metrics(y, p)
    # has0: y >= 0 -> [T, T, F, T]; p >= 0 -> [T, T, T, F]; hits at 0, 1 -> 2/4.
    assert m["acc2_has0"] == 0.5
    # f1_has0: class T (3 true): tp 2, fp 1, fn 1 -> P = R = 2/3, F1 = 2/3.
    #          class F (1 true): tp 0 -> F1 0.  Weighted: 3/4 * 2/3 + 1/4 * 0 = 0.5.
    assert m["f1_has0"] == pytest.approx(0.5)
    # non0 keeps samples 1, 2: y > 0 -> [T, F]; p > 0 -> [T, T]; 1 hit of 2.
    assert m["acc2_non0"] == 0.5
    # f1_non0: class T: tp 1, fp 1 -> P 1/2, R 1, F1 2/3; class F: F1 0.
    #          Weighted: (1 * 2/3 + 1 * 0) / 2 = 1/3.
    assert m["f1_non0"] == pytest.approx(1 / 3)
    # mae: (0.5 + 1 + 2 + 0.2) / 4 = 0.925.
    assert m["mae"] == pytest.approx(0.925)
    # Rounded: y [0, 1, -1, 0], p [0 (0.5 to even), 2, 1, -0] -> hits at 0 and 3.
    assert m["acc7"] == 0.5
    assert m["acc5"] == 0.5


def test_prediction_of_exactly_zero_is_negative_in_non0_and_positive_in_has0():
    # Label 1, prediction 0: has0 puts p in the class >= 0 (hit), non0 in the class <= 0 (miss).
    m = mosi_metrics([1.0, -1.0], [0.0, -1.0])
    assert m["acc2_has0"] == 1.0
    assert m["acc2_non0"] == 0.5


def test_weighted_f1_on_an_unbalanced_case():
    y = [1.0, 2.0, 0.5, 3.0, -1.0]
    p = [1.0, -1.0, 2.0, 0.5, -2.0]
    m = mosi_metrics(y, p)
    # y >= 0 -> [T, T, T, T, F] (4 T, 1 F); p >= 0 -> [T, F, T, T, F].
    # Class T: tp 3, fp 0, fn 1 -> P 1, R 3/4, F1 = 1.5 / 1.75 = 6/7.
    # Class F: tp 1, fp 1, fn 0 -> P 1/2, R 1, F1 = 1 / 1.5 = 2/3.
    # Weighted by true support: (4 * 6/7 + 1 * 2/3) / 5 = 86/105 = 0.81905.
    # (Macro would be 32/42 = 0.7619; weights by predicted support 82/105 = 0.7810.)
    assert m["f1_has0"] == pytest.approx(86 / 105)
    assert m["acc2_has0"] == pytest.approx(4 / 5)
    # No zero label, so non0 sees the same classes (p = -1 and -2 are <= 0 either way).
    assert m["f1_non0"] == pytest.approx(86 / 105)
    assert m["acc2_non0"] == pytest.approx(4 / 5)


def test_pearson_correlation_by_hand():
    # y [1, 2, 3], p [1, 3, 2]; both means 2, deviations [-1, 0, 1] and [-1, 1, 0].
    # r = (1 + 0 + 0) / sqrt(2 * 2) = 0.5.
    assert mosi_metrics([1.0, 2.0, 3.0], [1.0, 3.0, 2.0])["corr"] == pytest.approx(0.5)
    # p = -2y + 1 is an exact negative linear relation: r = -1.
    assert mosi_metrics([1.0, 2.0, 3.0], [-1.0, -3.0, -5.0])["corr"] == pytest.approx(-1.0)


def test_constant_prediction_gives_corr_zero_without_warnings():
    y = [1.0, -1.0, 2.0]
    p = [0.5, 0.5, 0.5]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = mosi_metrics(y, p)
    assert m["corr"] == 0.0
    # y >= 0 -> [T, F, T], p all T: acc 2/3.
    # Class T: tp 2, fp 1 -> P 2/3, R 1, F1 0.8; class F never predicted -> F1 0.
    # Weighted: 2/3 * 0.8 + 1/3 * 0 = 8/15.
    assert m["acc2_has0"] == pytest.approx(2 / 3)
    assert m["f1_has0"] == pytest.approx(8 / 15)


def test_constant_labels_give_corr_zero():
    assert mosi_metrics([1.0, 1.0, 1.0], [0.0, 1.0, 2.0])["corr"] == 0.0


def test_all_zero_labels_give_zero_non0_scores_and_valid_json():
    y = [0.0, 0.0, 0.0]
    p = [1.0, -1.0, 0.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = mosi_metrics(y, p)
    assert m["acc2_non0"] == 0.0
    assert m["f1_non0"] == 0.0
    assert m["corr"] == 0.0
    # has0: y all T, p >= 0 -> [T, F, T]: 2/3.  F1 weighs only class T (3 true):
    # tp 2, fp 0, fn 1 -> P 1, R 2/3, F1 0.8.
    assert m["acc2_has0"] == pytest.approx(2 / 3)
    assert m["f1_has0"] == pytest.approx(0.8)
    # Rounded p [1, -1, 0] against [0, 0, 0]: one hit.
    assert m["acc7"] == pytest.approx(1 / 3)
    json.dumps(m, allow_nan=False)


# --- SIMS / SIMSv2 ---------------------------------------------------------


def test_sims_metrics_by_hand():
    y = [-0.8, -0.2, 0.0, 0.4, 1.0]
    p = [-1.0, 0.1, 0.05, 0.8, 0.6]
    m = sims_metrics(y, p)
    # mae: (0.2 + 0.3 + 0.05 + 0.4 + 0.4) / 5 = 0.27.
    assert m["mae"] == pytest.approx(0.27)
    # acc2 (<= 0 -> 0): y [0, 0, 0, 1, 1], p [0, 1, 1, 1, 1]: 3 hits of 5.
    assert m["acc2"] == pytest.approx(0.6)
    # acc3 (edges -0.1, 0.1): y [0, 0, 1, 2, 2], p [0, 1, 1, 2, 2]: 4 of 5.
    assert m["acc3"] == pytest.approx(0.8)
    # acc5 (edges -0.7, -0.1, 0.1, 0.7): y [0, 1, 2, 3, 4], p [0, 2, 2, 4, 3]: 2 of 5.
    assert m["acc5"] == pytest.approx(0.4)
    # f1 on the acc2 classes. Class 0 (3 true, 1 predicted): tp 1 -> P 1, R 1/3, F1 0.5.
    # Class 1 (2 true, 4 predicted): tp 2 -> P 1/2, R 1, F1 2/3.
    # Weighted by true support: (3 * 0.5 + 2 * 2/3) / 5 = 17/30 (by predicted support: 19/30).
    assert m["f1"] == pytest.approx(17 / 30)


@pytest.mark.parametrize(
    ("key", "edge", "same_bin", "next_bin"),
    [
        ("acc2", 0.0, -0.5, 0.05),  # 0 is in [-1, 0]
        ("acc3", -0.1, -0.5, -0.05),  # -0.1 is in [-1, -0.1]
        ("acc3", 0.1, 0.0, 0.15),  # 0.1 is in (-0.1, 0.1]
        ("acc5", -0.7, -0.9, -0.5),  # -0.7 is in [-1, -0.7]
        ("acc5", -0.1, -0.5, 0.0),  # -0.1 is in (-0.7, -0.1]
        ("acc5", 0.1, 0.0, 0.2),  # 0.1 is in (-0.1, 0.1]
        ("acc5", 0.7, 0.5, 0.9),  # 0.7 is in (0.1, 0.7]
        ("acc5", -1.0, -0.9, -0.5),  # the bottom bin holds -1 itself
    ],
)
def test_sims_value_on_an_edge_goes_to_the_lower_bin(key, edge, same_bin, next_bin):
    assert sims_metrics([edge], [same_bin])[key] == 1.0
    assert sims_metrics([edge], [next_bin])[key] == 0.0


def test_sims_clips_to_unit_range_before_every_metric():
    # p 1.5 -> 1 (top bin (0.7, 1]) and -3 -> -1 (bottom bin [-1, -0.7]);
    # y 1.2 -> 1 as well. MAE on clipped values: (|1 - 1| + |-1 - -1| + |0 - 0.5|) / 3 = 0.5 / 3
    # (unclipped it would be (0.3 + 2 + 0.5) / 3).
    m = sims_metrics([1.2, -1.0, 0.0], [1.5, -3.0, 0.5])
    assert m["acc5"] == pytest.approx(2 / 3)  # 0 -> bin 2, 0.5 -> bin 3: one miss
    assert m["mae"] == pytest.approx(0.5 / 3)


# --- dispatch and inputs ---------------------------------------------------


@pytest.mark.parametrize(
    ("dataset", "keys"),
    [
        ("mosi", MOSI_METRICS),
        ("MOSEI", MOSI_METRICS),
        ("sims", SIMS_METRICS),
        ("SIMSv2", SIMS_METRICS),
    ],
)
def test_compute_metrics_picks_the_family(dataset, keys):
    assert tuple(compute_metrics([0.5, -0.5], [0.5, -0.5], dataset)) == keys


def test_compute_metrics_rejects_an_unknown_dataset():
    with pytest.raises(ValueError, match="iemocap"):
        compute_metrics([0.5], [0.5], "iemocap")


def test_column_vectors_tensors_and_lists_agree():
    # (N, 1) arrays and a tensor that requires grad: y [1, 2, 3], p [1, 3, 2] -> r 0.5, mae 2/3.
    y = np.array([[1.0], [2.0], [3.0]])
    p = torch.tensor([[1.0], [3.0], [2.0]], requires_grad=True)
    m = mosi_metrics(y, p)
    assert m["corr"] == pytest.approx(0.5)
    assert m["mae"] == pytest.approx(2 / 3)
    assert all(type(v) is float for v in m.values())


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([], [], "empty"),
        ([1.0, 2.0], [1.0], "2 samples but y_pred has 1"),
        ([1.0, float("nan")], [1.0, 2.0], "y_true contains NaN"),
        ([1.0, 2.0], [1.0, float("inf")], "y_pred contains NaN or infinite"),
        ([[1.0, 2.0], [3.0, 4.0]], [1.0, 2.0], r"shape \(N,\) or \(N, 1\)"),
        (1.0, 1.0, r"shape \(N,\) or \(N, 1\)"),
    ],
)
def test_bad_inputs_raise_value_error(y, p, message):
    with pytest.raises(ValueError, match=message):
        mosi_metrics(y, p)
    with pytest.raises(ValueError, match=message):
        sims_metrics(y, p)


def test_weighted_f1_agrees_with_scikit_learn_on_random_cases():
    from sklearn.metrics import f1_score

    from pipeline.metrics import _weighted_f1

    rng = np.random.default_rng(0)
    for _ in range(50):
        n, k = rng.integers(1, 40), rng.integers(2, 6)
        y, p = rng.integers(0, k, n), rng.integers(0, k, n)
        assert _weighted_f1(y, p) == pytest.approx(f1_score(y, p, average="weighted"), abs=1e-12)
