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
from pathlib import Path

import typer

from ..data.store import read_manifest
from ..distributed import torchrun_command
from ..errors import one_line_errors
from ..params import load_params
from ..setup import check_store, train_setup
from ..train import train_seeds


def command(params: Path = typer.Option(Path("params.yaml"), help="params.yaml (sections data, model, loss, train).")) -> None:
    """Train the model for every seed of train.seeds, choosing each checkpoint on the valid split."""
    with one_line_errors():
        setup = train_setup(load_params(params))
        check_store(setup, read_manifest(setup.train.store))  # here too: before torchrun starts any process
        cfg = setup.train
        if (cfg.nproc > 1 or cfg.nnodes > 1) and "WORLD_SIZE" not in os.environ:
            code = subprocess.call(torchrun_command(cfg.nproc, cfg.nnodes, cfg.rdzv_endpoint, "stages.train", ["--params", str(params)]))
            if code:
                raise typer.Exit(code)
            return
        train_seeds(setup, report=typer.echo)
