"""Training, read top to bottom: every seed of `train.seeds` on the tensor store; AdamW, selection
and early stopping on the valid split only, resumable, DDP-ready.

The command (pipeline/commands/train.py) parses params once into a `TrainSetup`, checks it against
the store and sets up this process (pipeline/distributed.py); `train_seeds` then trains each seed: seed the RNGs, build the model for the
store (pipeline/setup.py), make this process's loaders, and `fit`: every epoch, train, score the
valid split (predictions gathered from all ranks before any metric), keep the checkpoint with the
best valid criterion, save the state needed to resume. The test split is never read here. It
returns the summary; what is printed is the command's.

With DDP, `batch_size` is the global batch: each of the N processes (nnodes × nproc, on one
machine or several) takes batch_size / N, so a run on N processes follows the same optimization path as one process (up to the batch-level loss
terms, which see a smaller batch per process).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from .augment import perturb_batch
from .checkpoint import load_checkpoint, model_payload, save_checkpoint
from .confidence import CALIBRATION, calibration_record
from .data.loader import make_loader
from .data.store import Manifest
from .distributed import Context, barrier, mean_across
from .inference import autocast, predict, score_seeds
from .metrics import compute_metrics, is_better
from .model import SentimentModel, registry
from .setup import TrainConfig, TrainSetup, build_model


# (one epoch's batches, the seed) -> the same batches: the command's progress bar, shown by the main process.
Progress = Callable[[Iterable, int], Iterable]


class NonFiniteLoss(ArithmeticError):
    """A loss term or the valid criterion became NaN/inf; the last good checkpoint stays on disk."""


@dataclass(frozen=True)
class Loaders:
    train: DataLoader
    valid: DataLoader


@dataclass(frozen=True)
class SeedRun:
    """One seed's run: the store's dataset (its metrics), the folder of its resumable state.pt and
    best.pt, and what every checkpoint carries (manifest, train settings); `extra["fingerprint"]`
    decides whether a saved state belongs to this run."""

    seed: int
    dataset: str
    folder: Path
    extra: dict[str, Any]

    @property
    def state_path(self) -> Path:
        return self.folder / "state.pt"

    @property
    def best_path(self) -> Path:
        return self.folder / "best.pt"


@dataclass(frozen=True)
class Hooks:
    """What a run tells as it goes: each epoch's metrics row (dvclive), and a wrapper around each
    epoch's batches (the command's progress bar)."""

    log: Callable[[dict[str, float], int], None] = lambda metrics, epoch: None
    progress: Callable[[Iterable], Iterable] = lambda batches: batches


@dataclass
class Selection:
    """Where a run stands: the best valid criterion so far, its epoch and metrics, the epochs since."""

    best: float | None = None
    best_epoch: int = -1
    best_valid: dict[str, float] = field(default_factory=dict)
    bad_epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class FitResult:
    seed: int
    best_epoch: int
    best_valid: dict[str, float]
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)


def train_seeds(setup: TrainSetup, manifest: Manifest, ctx: Context,
                progress: Progress = lambda batches, seed: batches) -> dict[str, Any]:
    """Train every seed of `train.seeds` on the store `manifest` describes (`store_manifest` checked
    it), in this process of `ctx`; write `train.out`/seed_<seed>.pt (the checkpoint chosen on valid),
    `train.out`/train_summary.json and the per-epoch curves in dvclive/; return the summary (its
    `seeds` empty but on the main process). Under torchrun each process runs this, with its share of
    every batch."""
    from dvclive import Live  # here, not at the top: it costs every other command a second to import

    cfg = setup.train
    out, state = Path(cfg.out), Path(cfg.state)
    live = Live("dvclive", dvcyaml=None, save_dvc_exp=False, report=None) if ctx.is_main else None
    seeds = {}
    for seed in cfg.seeds:
        result = train_seed(setup, manifest, ctx, seed, seed_hooks(live, ctx, seed, progress))
        if ctx.is_main:
            out.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(state / f"seed_{seed}" / "best.pt", out / f"seed_{seed}.pt")
            seeds[str(seed)] = {"best_epoch": result.best_epoch, "epochs_run": result.epochs_run, "valid": result.best_valid}
    summary = {"select_metric": cfg.select_metric, "seeds": seeds}
    if ctx.is_main:
        live.end()
        (out / "train_summary.json").write_text(json.dumps(summary, indent=1))
        (out / CALIBRATION).write_text(json.dumps(valid_calibration(cfg, ctx), indent=1))
    return summary


def valid_calibration(cfg: TrainConfig, ctx: Context) -> dict[str, Any]:
    """The seed ensemble's confidence bands on valid with their MAE: what `pipeline predict` says a
    confidence means. Scored by this process alone (a world of one), from the saved checkpoints."""
    checkpoints = [Path(cfg.out) / f"seed_{seed}.pt" for seed in cfg.seeds]
    scores = score_seeds(checkpoints, cfg.store, "valid", Context(0, 1, ctx.device), cfg.batch_size)
    members = scores.members()
    return calibration_record("valid", members, scores.y_true - members.prediction)


def train_seed(setup: TrainSetup, manifest: Manifest, ctx: Context, seed: int, hooks: Hooks) -> FitResult:
    seed_everything(seed)
    model = build_model(setup, manifest)
    loaders = seed_loaders(setup, ctx, seed)
    return fit(model, loaders, setup.train, ctx, seed_run(setup, model, manifest, seed), hooks)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def seed_loaders(setup: TrainSetup, ctx: Context, seed: int) -> Loaders:
    """This process's share of the train and valid splits, each batch `batch_size` / world size."""
    cfg = setup.train
    per_rank_batch = max(1, cfg.batch_size // ctx.world_size)
    args = dict(modalities=setup.modalities, num_workers=cfg.num_workers, distributed=ctx.distributed,
                hidden=cfg.tune_text_layers > 0)
    return Loaders(
        make_loader(cfg.store, "train", per_rank_batch, shuffle=True, seed=seed,
                    drop_last=cfg.fixed_shapes, fixed_length=cfg.fixed_shapes, transcripts=cfg.transcripts, **args),
        make_loader(cfg.store, "valid", per_rank_batch, shuffle=False, seed=seed, **args),
    )


# Settings that do not change what a seed's run computes: an interrupted run resumes across them.
NOT_IN_FINGERPRINT = ("seeds", "nproc", "nnodes", "rdzv_endpoint", "num_workers", "threads", "out", "state")


def seed_run(setup: TrainSetup, model: SentimentModel, manifest: Manifest, seed: int) -> SeedRun:
    cfg = setup.train
    run_id = fingerprint(dataclasses.asdict(model.config), registry.own_as_dict(model),
                         {k: v for k, v in dataclasses.asdict(cfg).items() if k not in NOT_IN_FINGERPRINT},
                         dataclasses.asdict(manifest), seed)
    extra = {"manifest": dataclasses.asdict(manifest), "train_config": dataclasses.asdict(cfg),
             "extraction": manifest.extraction, "fingerprint": run_id}
    return SeedRun(seed, manifest.dataset, Path(cfg.state) / f"seed_{seed}", extra)


def fingerprint(*parts) -> str:
    """A short hash of what decides a run; a saved state with another one is not resumed."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def seed_hooks(live, ctx: Context, seed: int, progress: Progress) -> Hooks:
    """The seed's curves into dvclive, and the command's progress over the main process's batches."""

    def log(row: dict[str, float], epoch: int) -> None:
        live.step = epoch
        for name, value in row.items():
            live.log_metric(f"seed_{seed}/{name}", value)
        live.next_step()

    return Hooks(log, lambda batches: progress(batches, seed)) if ctx.is_main else Hooks(log)


def fit(model: SentimentModel, loaders: Loaders, cfg: TrainConfig, ctx: Context, run: SeedRun,
        hooks: Hooks = Hooks()) -> FitResult:
    """Train one seed; resume from `run.state_path` when it holds a run of the same fingerprint."""
    model.to(ctx.device)
    ddp_model = DistributedDataParallel(model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None) if ctx.distributed else model
    # The model's whole loss is one graph (no data-dependent branches), so on GPU compiling pays off
    # in fewer kernel launches (on CPU it measured slower: docs/results.md); validation stays eager.
    forward = torch.compile(ddp_model, mode=None if cfg.compile == "default" else cfg.compile, dynamic=False) if cfg.compile else ddp_model
    optimizer = torch.optim.AdamW(param_groups(model, cfg), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start, sel = _resume(run, model, optimizer)
    for epoch in range(start, cfg.epochs):
        if sel.bad_epochs >= cfg.patience:
            break
        train_terms = _train_epoch(model, forward, loaders.train, optimizer, cfg, ctx, run.seed, epoch, hooks.progress)
        valid = _score_valid(model, loaders.valid, cfg, ctx, run.dataset, epoch)
        row = {**train_terms, **{f"valid/{k}": v for k, v in valid.items()}}
        sel.history.append(row)
        improved = is_better(cfg.select_metric, valid[cfg.select_metric], sel.best)
        if improved:
            sel.best, sel.best_epoch, sel.best_valid, sel.bad_epochs = valid[cfg.select_metric], epoch, valid, 0
        else:
            sel.bad_epochs += 1
        if ctx.is_main:
            hooks.log(row, epoch)
            if improved:
                best = {**model_payload(model), **run.extra, "seed": run.seed, "epoch": epoch, "valid": valid}
                save_checkpoint(run.best_path, best)
            _save_state(run, model, optimizer, epoch, sel, epoch == cfg.epochs - 1 or sel.bad_epochs >= cfg.patience)
        barrier(ctx)
    return FitResult(run.seed, sel.best_epoch, sel.best_valid, len(sel.history), sel.history)


def param_groups(model: SentimentModel, cfg: TrainConfig) -> list[dict[str, Any]]:
    """AdamW groups: the model at train.lr, a fine-tuned text encoder at train.text_lr (a pretrained encoder
    forgets what it knows at the head's rate)."""
    backbone = list(model.text_backbone.parameters()) if model.text_backbone is not None else []
    taken = {id(p) for p in backbone}
    groups = [{"params": [p for p in model.parameters() if id(p) not in taken]}]
    return groups + ([{"params": backbone, "lr": cfg.text_lr}] if backbone else [])


def _resume(run: SeedRun, model: SentimentModel, optimizer) -> tuple[int, Selection]:
    """The epoch to start from and the selection so far: an interrupted run of the same fingerprint
    continues; a finished one (rerun because code or inputs changed) starts again from scratch."""
    if not run.state_path.is_file():
        return 0, Selection()
    state = load_checkpoint(run.state_path)
    if state.get("fingerprint") != run.extra["fingerprint"] or state.get("finished", False):
        return 0, Selection()
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"])
    return state["epoch"] + 1, Selection(state["best"], state["best_epoch"], state["best_valid"], state["bad_epochs"], state["history"])


def _train_epoch(model, forward, loader, optimizer, cfg: TrainConfig, ctx: Context, seed: int, epoch: int,
                 progress: Callable[[Any], Any]) -> dict[str, float]:
    model.train()
    if hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch)
    sums: dict[str, torch.Tensor] = {}
    count = 0
    perturbation = cfg.perturbation
    for batch in progress(loader):
        if perturbation.active:
            batch, shares = perturb_batch(batch, perturbation, seed, epoch)
            for name, share in shares.items():
                sums[f"perturbed_{name}"] = sums.get(f"perturbed_{name}", 0.0) + share * len(batch)
        batch = batch.to(ctx.device)
        with autocast(ctx, cfg.bf16):
            out = forward(batch.inputs, batch.lengths, batch.present, batch.labels, tokens=batch.tokens, index=batch.index,
                          corrupted=batch.corrupted)
        if not torch.isfinite(out.loss):
            bad = [name for name, value in out.losses.items() if not torch.isfinite(value) and name != "total"]
            raise NonFiniteLoss(f"epoch {epoch}: loss term(s) {', '.join(bad) or 'total'} became NaN or infinite")
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        # Summed as tensors: one .item() per epoch instead of a device sync per step.
        for name, value in out.losses.items():
            sums[name] = sums.get(name, 0.0) + value.detach().float() * len(batch)
        count += len(batch)
    return mean_across(ctx, {f"train/{k}": float(v / max(count, 1)) for k, v in sums.items()})


def _score_valid(model: SentimentModel, loader: DataLoader, cfg: TrainConfig, ctx: Context, dataset: str,
                 epoch: int) -> dict[str, float]:
    predictions = predict(model, loader, ctx, cfg.bf16)
    valid = compute_metrics(predictions.y_true, predictions.y_pred, dataset)
    if not math.isfinite(valid[cfg.select_metric]):
        raise NonFiniteLoss(f"epoch {epoch}: valid {cfg.select_metric} is not finite")
    return valid


def _save_state(run: SeedRun, model: SentimentModel, optimizer, epoch: int, selection: Selection, finished: bool) -> None:
    save_checkpoint(run.state_path, {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
        "best": selection.best, "best_epoch": selection.best_epoch, "bad_epochs": selection.bad_epochs,
        "history": selection.history, "best_valid": selection.best_valid, "rng": torch.get_rng_state(),
        "fingerprint": run.extra["fingerprint"], "finished": finished,
    })
