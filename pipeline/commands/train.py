"""`pipeline train`, the DVC stage `train` (stages/train.py): the model on the tensor store, every seed of `train.seeds`, selection on valid.

Reads params `data.modalities`, `model`, `loss` and `train`; the extraction settings a checkpoint
keeps for `pipeline predict` come from the store (pipeline/setup.py). Writes `models/seed_<seed>.pt`
(the checkpoint chosen on valid), `models/train_summary.json`, per-epoch curves in `dvclive/`, and
keeps the resumable state in `runs/` (a persistent DVC output: an interrupted run continues from
there). With `train.nproc` > 1 or `train.nnodes` > 1 it relaunches itself under torchrun (DDP; gloo
on CPU, nccl on GPU); with `nnodes` N, each of the N machines runs the same command.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import typer
from rich.progress import track

from .. import distributed
from ..params import load_params
from ..setup import store_manifest, train_setup
from ..train import train_seeds
from .errors import one_line_errors


def command(params: Path = typer.Option(Path("params.yaml"), help="params.yaml (sections data, model, loss, train).")) -> None:
    """Train the model for every seed of train.seeds, choosing each checkpoint on the valid split."""
    with one_line_errors():
        setup = train_setup(load_params(params))
        manifest = store_manifest(setup)  # in the launching process too: before torchrun starts any process
        cfg = setup.train
        if (cfg.nproc > 1 or cfg.nnodes > 1) and "WORLD_SIZE" not in os.environ:
            code = subprocess.call(distributed.torchrun_command(cfg.nproc, cfg.nnodes, cfg.rdzv_endpoint, "stages.train", ["--params", str(params)]))
            if code:
                raise typer.Exit(code)
            return
        ctx = distributed.setup(cfg.device, cfg.threads)
        try:
            summary = train_seeds(setup, manifest, ctx, progress_bar)
        finally:
            distributed.teardown()
    for seed, result in summary["seeds"].items():
        typer.echo(f"seed {seed}: best valid {cfg.select_metric} {result['valid'][cfg.select_metric]:.4f} at epoch {result['best_epoch']}")


def progress_bar(batches: Iterable, seed: int) -> Iterable:
    """One epoch's batches under a bar on the terminal (none when stderr is not one)."""
    return track(batches, description=f"seed {seed}", transient=True, disable=not sys.stderr.isatty())
