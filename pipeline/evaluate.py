"""Evaluation: every seed's selected checkpoint scored on each split, mean ± std over seeds, the seed
ensemble (the mean of the seeds' predictions: what `pipeline predict` gives), each clip's
confidence and how well it ranks the errors (risk–coverage), plots.

Each seed contributes the metrics of its one checkpoint (the one chosen on valid during
training); the summary is their mean, sample standard deviation and the per-seed values.
`metrics.json` keeps the means that `dvc exp show` draws: every headline metric of the first split
reported (test, where the store has one) and, for each later split, the metric that selected the
checkpoints (`train.select_metric`) — all of them would not fit a 120-column terminal beside the
changed params. The seeds file (`evaluate.seed_metrics`) keeps every metric's mean, std and
per-seed values of every split.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import distributed  # noqa: E402
from .confidence import Ensemble, confidence, random_ranking, risk_coverage, risk_coverage_curve  # noqa: E402
from .data.source import SPLITS  # noqa: E402
from .data.store import read_manifest  # noqa: E402
from .transcripts import DEFAULT as DEFAULT_TRANSCRIPT, check_sources  # noqa: E402
from .metrics import class_names, compute_metrics, fine_classes, headline_metrics  # noqa: E402
from .inference import score_seeds  # noqa: E402
from .setup import TrainConfig  # noqa: E402

# metrics.json lists the test split first: in a narrow terminal `dvc exp show` keeps the leftmost columns.
SPLIT_ORDER = ("test", "valid", "train")
# What evaluate reads of `train:`; the rest of that section does not change a score.
TRAIN_KEYS = ("seeds", "store", "out", "device", "threads", "select_metric")


@dataclass(frozen=True)
class EvaluateConfig:
    """params.yaml `evaluate:`."""

    splits: tuple[str, ...] = ("valid", "test")  # a split the store lacks (MOSI text: no test) is skipped, with a note
    metrics: str = "metrics.json"  # {first split: {headline metric: mean}, later split: {select metric: mean}}
    seed_metrics: str = "metrics_seeds.json"  # {split: {metric: mean, metric_std, per_seed}}
    plots: str = "plots"
    batch_size: int = 64
    transcript: str = DEFAULT_TRANSCRIPT  # the transcript source every split's text is read from (label.csv text_<source>)

    def __post_init__(self) -> None:
        unknown = [s for s in self.splits if s not in SPLITS]
        if unknown or not self.splits:
            raise ValueError(f"evaluate.splits: {unknown or '[]'} is not a non-empty list of {list(SPLITS)}")


@dataclass(frozen=True)
class Evaluation:
    dataset: str
    summaries: dict[str, dict]  # split -> summarize(...)
    skipped: tuple[str, ...]  # asked-for splits the store does not have


def evaluate_seeds(cfg: EvaluateConfig, train: TrainConfig) -> Evaluation:
    """Score each seed's checkpoint on every split; write the metrics files, the predictions
    (`plots/predictions/<split>.csv`, what `dvc plots` draws) and, for the first seed, a scatter
    and a confusion matrix per split."""
    manifest = read_manifest(train.store)
    check_sources((cfg.transcript,), manifest.transcripts, "evaluate.transcript", f"the store {train.store}")
    ctx = distributed.setup(train.device, train.threads)
    plots = Path(cfg.plots)
    summaries: dict[str, dict] = {}
    splits = [s for s in SPLIT_ORDER if s in cfg.splits and manifest.splits.get(s, 0) > 0]
    for split in splits:
        checkpoints = [Path(train.out) / f"seed_{seed}.pt" for seed in train.seeds]
        scores = score_seeds(checkpoints, train.store, split, ctx, cfg.batch_size, cfg.transcript)
        members = scores.members()
        per_seed, rows = {}, []
        for k, seed in enumerate(train.seeds):
            y_pred = scores.predictions[k]
            per_seed[seed] = compute_metrics(scores.y_true, y_pred, manifest.dataset)
            # A seed's own confidence where its model has an error head, else the ensemble's spread.
            sure = confidence(scores.expected_errors[k]) if scores.expected_errors is not None else members.confidence
            rows += list(zip([seed] * len(y_pred), scores.ids, scores.y_true, y_pred, sure))
            if k == 0:
                title = f"{split}, seed {seed}"
                plot_scatter(plots / f"scatter_{split}.png", scores.y_true, y_pred, title)
                matrix = confusion(scores.y_true, y_pred, manifest.dataset)
                plot_confusion(plots / f"confusion_{split}.png", matrix, manifest.dataset, title)
        write_predictions(plots / "predictions" / f"{split}.csv", rows)
        summaries[split] = summarize(per_seed)
        summaries[split]["ensemble"] = compute_metrics(scores.y_true, members.prediction, manifest.dataset)
        summaries[split]["risk_coverage"] = rankings(scores.y_true - members.prediction, members)
        plot_risk_coverage(plots / f"risk_coverage_{split}.png", scores.y_true - members.prediction, members,
                           f"{split}, mean of {len(train.seeds)} seeds")
    Path(cfg.metrics).write_text(json.dumps(shown_metrics(summaries, manifest.dataset, train.select_metric), indent=1))
    Path(cfg.seed_metrics).write_text(json.dumps(summaries, indent=1))
    skipped = tuple(s for s in cfg.splits if s not in splits)
    return Evaluation(manifest.dataset, summaries, skipped)


def shown_metrics(summaries: dict[str, dict], dataset: str, select_metric: str) -> dict[str, dict[str, float]]:
    """metrics.json: the first split's headline means, and each later split's selection metric."""
    headline = headline_metrics(dataset)
    return {split: {k: summary[k] for k in (headline if i == 0 else (select_metric,))}
            for i, (split, summary) in enumerate(summaries.items())}


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


def write_predictions(path: Path, rows: list[tuple[int, str, float, float, float]]) -> None:
    """CSV of (seed, id, label, prediction, confidence) rows: what `dvc plots` draws the scatter from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["seed", "id", "label", "prediction", "confidence"])
        writer.writerows((seed, clip, f"{t:.4f}", f"{p:.4f}", f"{c:.4f}") for seed, clip, t, p, c in rows)


def rankings(errors: np.ndarray, members: Ensemble) -> dict[str, dict[str, float]]:
    """Risk–coverage of the ensemble's errors (N,) under its confidence, the seeds' spread and a
    random ranking (the two references)."""
    return {f"confidence ({members.source})": risk_coverage(errors, members.confidence),
            "seed spread": risk_coverage(errors, confidence(members.spread)),
            "random": random_ranking(errors)}


def plot_risk_coverage(path: Path, errors: np.ndarray, members: Ensemble, title: str) -> None:
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, sure in ((f"confidence ({members.source})", members.confidence), ("seed spread", confidence(members.spread))):
        coverage, mae = risk_coverage_curve(errors, sure)
        ax.plot(coverage, mae, label=name)
    ax.axhline(float(np.abs(errors).mean()), color="grey", linestyle="--", linewidth=1, label="random ranking")
    ax.set(xlabel="coverage (most confident clips first)", ylabel="MAE", title=title, xlim=(0, 1))
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
