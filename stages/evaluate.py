"""DVC stage `evaluate`: each seed's checkpoint on every split → metrics.json and plots.

Reads params `train` (store, checkpoints, seeds) and `evaluate`. Writes `metrics.json`
({split: {metric: mean over seeds, metric_std, per_seed}}), `plots/predictions/<split>.csv`
(what `dvc plots` draws), and for the first seed a predicted-vs-true scatter and a confusion
matrix per split as PNG.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import typer

from pipeline import distributed
from pipeline.checkpoint import load_checkpoint, model_from_checkpoint
from pipeline.data.loader import make_loader
from pipeline.data.store import read_manifest
from pipeline.errors import one_line_errors
from pipeline.metrics import compute_metrics
from pipeline.params import load_params, section_from_params
from pipeline.train import TrainConfig, predict


HEADLINE = ("mae", "corr", "acc2_non0", "acc2", "acc5", "acc7")


@dataclass(frozen=True)
class EvaluateConfig:
    """params.yaml `evaluate:`."""

    splits: tuple[str, ...] = ("valid", "test")  # a split the store lacks (MOSI text: no test) is skipped
    metrics: str = "metrics.json"
    plots: str = "plots"
    batch_size: int = 64


def run(params_path: Path) -> None:
    # Imported here: matplotlib costs every other command half a second.
    from pipeline.evaluate import confusion, plot_confusion, plot_scatter, summarize, write_predictions

    params = load_params(params_path)
    train = section_from_params(TrainConfig, "train", params.get("train"))
    cfg = section_from_params(EvaluateConfig, "evaluate", params.get("evaluate"))
    manifest = read_manifest(train.store)
    ctx = distributed.setup(train.device)
    plots = Path(cfg.plots)
    results: dict[str, dict] = {}
    splits = [s for s in cfg.splits if manifest.splits.get(s, 0) > 0]
    for split in splits:
        per_seed, rows = {}, []
        for seed in train.seeds:
            checkpoint = load_checkpoint(Path(train.out) / f"seed_{seed}.pt")
            model = model_from_checkpoint(checkpoint).to(ctx.device)
            loader = make_loader(train.store, split, cfg.batch_size, shuffle=False, modalities=model.config.modalities)
            predictions = predict(model, loader, ctx)
            per_seed[seed] = compute_metrics(predictions.y_true, predictions.y_pred, manifest.dataset)
            rows += [(seed, i, t, p) for i, t, p in zip(predictions.ids, predictions.y_true, predictions.y_pred)]
            if seed == train.seeds[0]:
                title = f"{split}, seed {seed}"
                plot_scatter(plots / f"scatter_{split}.png", predictions.y_true, predictions.y_pred, title)
                matrix = confusion(predictions.y_true, predictions.y_pred, manifest.dataset)
                plot_confusion(plots / f"confusion_{split}.png", matrix, manifest.dataset, title)
        write_predictions(plots / "predictions" / f"{split}.csv", rows)
        results[split] = summarize(per_seed)
    Path(cfg.metrics).write_text(json.dumps(results, indent=1))
    for split, summary in results.items():
        shown = ", ".join(f"{k} {summary[k]:.3f} ± {summary[k + '_std']:.3f}" for k in HEADLINE if k in summary)
        typer.echo(f"{split}: {shown} ({len(train.seeds)} seeds)")
    typer.echo(f"metrics: {Path(cfg.metrics).resolve()}\nplots: {plots.resolve()}")


def command(params: Path = typer.Option(Path("params.yaml"), help="params.yaml (sections train, evaluate).")) -> None:
    """Score every seed's checkpoint on each split; write metrics.json (mean ± std) and plots."""
    with one_line_errors():
        run(params)
