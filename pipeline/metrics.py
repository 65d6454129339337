"""Evaluation metrics for multimodal sentiment analysis (docs/model.md §10).

These are the community definitions behind the MSA papers' tables (the MMSA
toolkit's conventions), reproduced exactly, including numpy's
round-half-to-even. ``y`` is the true score, ``p`` the predicted one.

MOSI / MOSEI, scores in [-3, 3] (``mosi_metrics``):

* ``mae``: mean absolute error; ``corr``: Pearson correlation.
* ``acc2_has0``, ``f1_has0``: class ``value >= 0`` against ``value < 0``, for
  ``y`` and ``p`` alike, so a zero label counts as positive.
* ``acc2_non0``, ``f1_non0``: samples with ``y == 0`` are dropped; on the rest
  the class is ``value > 0`` for ``y`` and ``p`` alike, so a prediction of
  exactly 0 counts as negative.
* ``acc5``, ``acc7``: ``y`` and ``p`` clipped to [-2, 2] / [-3, 3], rounded with
  ``np.round`` (half to even: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0) and
  compared.

SIMS / SIMSv2, scores in [-1, 1] (``sims_metrics``):

``y`` and ``p`` are first clipped to [-1, 1], for every metric (MAE and
Pearson included, as MMSA computes them).

* ``mae``, ``corr`` as above.
* ``acc2``, ``acc3``, ``acc5``: a value ``v`` goes to bin ``i`` when
  ``edges[i] < v <= edges[i + 1]``, the outer edges being -1.01 and 1. The
  bins are therefore closed on the right and the lowest one also holds -1:

  - acc2: [-1, 0], (0, 1]
  - acc3: [-1, -0.1], (-0.1, 0.1], (0.1, 1]
  - acc5: [-1, -0.7], (-0.7, -0.1], (-0.1, 0.1], (0.1, 0.7], (0.7, 1]

* ``f1``: weighted F1 on the acc2 classes.

Every F1 is the weighted F1 of scikit-learn's ``f1_score(y_class, p_class,
average="weighted")``: per-class F1 weighted by the number of true samples in
each class (computed here with numpy; a test checks it against scikit-learn).

Degenerate cases give a number, never NaN, so that ``metrics.json`` stays valid
JSON (NaN is not JSON):

* ``corr`` is 0.0 when ``y`` or ``p`` is constant: Pearson's r divides by the
  standard deviation and is undefined there; no linear relation is measurable.
* ``acc2_non0`` and ``f1_non0`` are 0.0 when every label is 0: no sample is
  left to score. Read them together with the label counts in that case.
* A class that is never predicted has F1 0 (``2tp / (2tp + fp + fn)`` with
  ``tp = 0``), as scikit-learn computes it.

Invalid input raises ``ValueError``: no samples, different lengths, NaN or
infinite values, or a shape other than (N,) or (N, 1). Inputs may be numpy
arrays, lists or torch tensors.
"""

from __future__ import annotations

import numpy as np

from .datasets import dataset_info

MOSI_METRICS = (
    "mae", "corr", "acc2_has0", "f1_has0", "acc2_non0", "f1_non0", "acc5", "acc7",
)
SIMS_METRICS = ("mae", "corr", "acc2", "acc3", "acc5", "f1")
# What metrics.json keeps per split (a table a person reads); every metric is in the seeds file.
HEADLINE = {"mosi": ("mae", "corr", "acc2_non0", "acc7"), "sims": ("mae", "corr", "acc2", "acc5")}
LOWER_IS_BETTER = {"mae"}

# Inner edges only: on values clipped to [-1, 1] the outer edges (-1.01, 1) never decide a bin.
_SIMS_EDGES_2 = (0.0,)
_SIMS_EDGES_3 = (-0.1, 0.1)
_SIMS_EDGES_5 = (-0.7, -0.1, 0.1, 0.7)



def mosi_metrics(y_true, y_pred) -> dict[str, float]:
    """MOSI/MOSEI metrics (keys ``MOSI_METRICS``) of scores on the [-3, 3] scale."""
    y, p = _as_pair(y_true, y_pred)
    non0 = y != 0
    if non0.any():
        acc2_non0 = _accuracy(y[non0] > 0, p[non0] > 0)
        f1_non0 = _weighted_f1(y[non0] > 0, p[non0] > 0)
    else:
        acc2_non0 = f1_non0 = 0.0
    return {
        "mae": _mae(y, p),
        "corr": _pearson(y, p),
        "acc2_has0": _accuracy(y >= 0, p >= 0),
        "f1_has0": _weighted_f1(y >= 0, p >= 0),
        "acc2_non0": acc2_non0,
        "f1_non0": f1_non0,
        "acc5": _rounded_accuracy(y, p, bound=2.0),
        "acc7": _rounded_accuracy(y, p, bound=3.0),
    }


def sims_metrics(y_true, y_pred) -> dict[str, float]:
    """SIMS/SIMSv2 metrics (keys ``SIMS_METRICS``) of scores on the [-1, 1] scale."""
    y, p = (np.clip(v, -1.0, 1.0) for v in _as_pair(y_true, y_pred))
    y2, p2 = _sims_bins(y, _SIMS_EDGES_2), _sims_bins(p, _SIMS_EDGES_2)
    return {
        "mae": _mae(y, p),
        "corr": _pearson(y, p),
        "acc2": _accuracy(y2, p2),
        "acc3": _sims_accuracy(y, p, _SIMS_EDGES_3),
        "acc5": _sims_accuracy(y, p, _SIMS_EDGES_5),
        "f1": _weighted_f1(y2, p2),
    }


def compute_metrics(y_true, y_pred, dataset: str) -> dict[str, float]:
    """Metrics of the dataset's family: "mosi"/"mosei" ([-3, 3]) or "sims"/"simsv2" ([-1, 1])."""
    if _family(dataset) == "mosi":
        return mosi_metrics(y_true, y_pred)
    return sims_metrics(y_true, y_pred)


def is_better(metric: str, value: float, best: float | None) -> bool:
    """Whether `value` of `metric` beats `best` (None: nothing yet): the rule that selects a checkpoint."""
    if best is None:
        return True
    return value < best if metric in LOWER_IS_BETTER else value > best


def metric_names(dataset: str) -> tuple[str, ...]:
    return MOSI_METRICS if _family(dataset) == "mosi" else SIMS_METRICS


def headline_metrics(dataset: str) -> tuple[str, ...]:
    return HEADLINE[_family(dataset)]


def _family(dataset: str) -> str:
    return dataset_info(str(dataset).lower(), "dataset").family


def _as_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y = _as_vector(y_true, "y_true")
    p = _as_vector(y_pred, "y_pred")
    if len(y) != len(p):
        raise ValueError(f"y_true has {len(y)} samples but y_pred has {len(p)}")
    return y, p


def _as_vector(values, name: str) -> np.ndarray:
    # A tensor that requires grad, or lives on a GPU, refuses np.asarray.
    if hasattr(values, "detach"):
        values = values.detach().cpu()
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must have shape (N,) or (N, 1), got {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _mae(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(y - p)))


def _pearson(y: np.ndarray, p: np.ndarray) -> float:
    # Undefined for a constant series (zero variance); see the module docstring.
    if np.ptp(y) == 0 or np.ptp(p) == 0:
        return 0.0
    return float(np.corrcoef(y, p)[0, 1])


def _accuracy(y_class: np.ndarray, p_class: np.ndarray) -> float:
    return float(np.mean(y_class == p_class))


def _weighted_f1(y_class: np.ndarray, p_class: np.ndarray) -> float:
    # scikit-learn's f1_score(average="weighted"), written out: importing scikit-learn costs every
    # command ~2 s. Classes seen only in predictions weigh 0; a class never predicted has F1 0.
    classes, support = np.unique(y_class, return_counts=True)
    scores = []
    for c in classes:
        tp = np.sum((y_class == c) & (p_class == c))
        scores.append(2 * tp / (np.sum(y_class == c) + np.sum(p_class == c)))
    return float(np.dot(scores, support) / len(y_class))


def _rounded_accuracy(y: np.ndarray, p: np.ndarray, bound: float) -> float:
    return _accuracy(_rounded_classes(y, bound), _rounded_classes(p, bound))


def _rounded_classes(v: np.ndarray, bound: float) -> np.ndarray:
    # np.round rounds half to even, as the published tables do; int(x + 0.5) would not.
    return np.round(np.clip(v, -bound, bound))


def _sims_accuracy(y: np.ndarray, p: np.ndarray, inner_edges: tuple[float, ...]) -> float:
    return _accuracy(_sims_bins(y, inner_edges), _sims_bins(p, inner_edges))


def _sims_bins(v: np.ndarray, inner_edges: tuple[float, ...]) -> np.ndarray:
    # side="left" counts the edges strictly below v, so a value equal to an edge
    # falls in the lower bin: bins are closed on the right, as in MMSA.
    return np.searchsorted(inner_edges, v, side="left")


def fine_classes(values, dataset: str) -> np.ndarray:
    """The classes behind acc7 (MOSI/MOSEI: -3..3 → 0..6) or SIMS's acc5 (0..4), for confusion matrices."""
    v = _as_vector(values, "values")
    if _family(dataset) == "sims":
        return _sims_bins(np.clip(v, -1.0, 1.0), _SIMS_EDGES_5)
    return (_rounded_classes(v, 3.0) + 3).astype(int)


def class_names(dataset: str) -> list[str]:
    """Names of `fine_classes`, lowest sentiment first."""
    if _family(dataset) == "sims":
        return ["neg", "weak neg", "neutral", "weak pos", "pos"]
    return ["-3", "-2", "-1", "0", "1", "2", "3"]
