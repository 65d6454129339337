"""Evaluation: every seed's selected checkpoint scored on each split, mean ± std over seeds, plots.

Each seed contributes the metrics of its one checkpoint (the one chosen on valid during
training); the summary is their mean, sample standard deviation and the per-seed values.
"""
from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .metrics import class_names, fine_classes  # noqa: E402


def summarize(per_seed: dict[int, dict[str, float]]) -> dict:
    """{metric: mean, metric_std: std over seeds (ddof 1; 0 for one seed), per_seed: {seed: {...}}}."""
    seeds = sorted(per_seed)
    names = list(per_seed[seeds[0]])
    summary: dict = {}
    for name in names:
        values = np.array([per_seed[s][name] for s in seeds], dtype=float)
        summary[name] = float(values.mean())
        summary[f"{name}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    summary["per_seed"] = {str(s): per_seed[s] for s in seeds}
    return summary


def write_predictions(path: Path, rows: list[tuple[int, str, float, float]]) -> None:
    """CSV of (seed, id, label, prediction) rows: what `dvc plots` draws the scatter from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["seed", "id", "label", "prediction"])
        writer.writerows((seed, clip, f"{t:.4f}", f"{p:.4f}") for seed, clip, t, p in rows)


def plot_scatter(path: Path, y_true: np.ndarray, y_pred: np.ndarray, title: str) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([low, high], [low, high], color="grey", linewidth=1, linestyle="--", label="perfect")
    ax.scatter(y_true, y_pred, s=12, alpha=0.6)
    ax.set(xlabel="true score", ylabel="predicted score", title=title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, dataset: str) -> np.ndarray:
    """Counts (C, C): rows true class, columns predicted class (7 for MOSI/MOSEI, 5 for SIMS)."""
    size = len(class_names(dataset))
    matrix = np.zeros((size, size), dtype=int)
    np.add.at(matrix, (fine_classes(y_true, dataset), fine_classes(y_pred, dataset)), 1)
    return matrix


def plot_confusion(path: Path, matrix: np.ndarray, dataset: str, title: str) -> None:
    names = class_names(dataset)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", color="black" if count < matrix.max() / 2 else "white")
    ax.set(xticks=range(len(names)), yticks=range(len(names)), xticklabels=names, yticklabels=names,
           xlabel="predicted class", ylabel="true class", title=title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
