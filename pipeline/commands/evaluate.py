"""`pipeline evaluate`, the DVC stage `evaluate` (stages/evaluate.py): each seed's checkpoint on every split -> metrics.json, the seeds file and plots.

Reads params `evaluate` and, of `train`, where the store and the checkpoints are, the seeds, the
device, threads and the selection metric (pipeline/evaluate.py: TRAIN_KEYS). Writes `metrics.json`
(the test split's headline means and valid's selection metric: what `dvc exp show` draws),
`metrics_seeds.json` (every metric's mean, std and per-seed values, the seed ensemble's metrics and
the risk–coverage of its confidence), `plots/risk_coverage_<split>.png`,
`plots/predictions/<split>.csv` (what `dvc plots` draws), and for the first seed a
predicted-vs-true scatter and a confusion matrix per split as PNG.
"""
from __future__ import annotations

from pathlib import Path

import typer

from ..params import load_params, section_from_params
from .errors import one_line_errors


def command(params: Path = typer.Option(Path("params.yaml"), help="params.yaml (sections evaluate and train).")) -> None:
    """Score every seed's checkpoint on each split; write metrics.json (mean ± std) and plots."""
    # Imported here: matplotlib costs every other command of the `pipeline` CLI half a second.
    from ..evaluate import TRAIN_KEYS, EvaluateConfig, evaluate_seeds
    from ..metrics import headline_metrics
    from ..setup import TrainConfig

    with one_line_errors():
        sections = load_params(params)
        cfg = section_from_params(EvaluateConfig, "evaluate", sections.get("evaluate"))
        train_section = sections.get("train") or {}
        train = section_from_params(TrainConfig, "train", {k: train_section[k] for k in TRAIN_KEYS if k in train_section})
        result = evaluate_seeds(cfg, train)
    for split in result.skipped:
        typer.echo(f"no {split} split in {train.store}: not scored", err=True)
    for split, summary in result.summaries.items():
        shown = ", ".join(f"{k} {summary[k]:.3f} ± {summary[k + '_std']:.3f}" for k in headline_metrics(result.dataset))
        typer.echo(f"{split}: {shown} ({len(train.seeds)} seeds)")
        together = ", ".join(f"{k} {summary['ensemble'][k]:.3f}" for k in headline_metrics(result.dataset))
        ranked = next(v for k, v in summary["risk_coverage"].items() if k.startswith("confidence"))
        typer.echo(f"{split}, mean of the seeds' predictions: {together}; the 50 % most confident clips: MAE "
                   f"{ranked['mae@50']:.3f} (all: {ranked['mae@100']:.3f})")
    typer.echo(f"metrics: {Path(cfg.metrics).resolve()} (every metric and seed: {cfg.seed_metrics})\nplots: {Path(cfg.plots).resolve()}")
