"""Training DSRF: AdamW, selection and early stopping on the valid split only, resumable, DDP-ready.

One seed at a time (`fit`). Every epoch: train, score the valid split (predictions gathered from
all ranks before any metric), keep the checkpoint with the best valid criterion, save the state
needed to resume. The test split is never read here.

With DDP, `batch_size` is the global batch: each of the N processes (nnodes × nproc, on one
machine or several) takes batch_size / N, so a run on N processes follows the same optimization path as one process (up to the batch-level loss
terms, which see a smaller batch per process).
"""
from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from .checkpoint import load_checkpoint, model_payload, save_checkpoint
from .distributed import Context, barrier, gather_objects, mean_across
from .metrics import compute_metrics
from .model import DSRF, PRESETS

LOWER_IS_BETTER = {"mae"}
# torch.compile modes; the last two also record CUDA graphs on GPU.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")


@dataclass(frozen=True)
class TrainConfig:
    """params.yaml `train:`."""

    seeds: tuple[int, ...] = (1111, 1112, 1113, 1114, 1115)
    epochs: int = 30
    lr: float = 5e-4
    batch_size: int = 32
    weight_decay: float = 1e-3
    preset: str = ""  # a paper preset (mosi, mosei, sims, simsv2): its lr, batch, weight decay, hidden win
    patience: int = 8  # epochs without a better valid criterion before stopping
    select_metric: str = "mae"  # the valid metric that picks the checkpoint
    grad_clip: float = 1.0
    nproc: int = 1  # processes per node; more than 1 launches DDP through torchrun
    nnodes: int = 1  # machines, each running `pipeline train` with these params; more than 1 needs rdzv_endpoint
    rdzv_endpoint: str = ""  # host:port where the nodes meet (torchrun's c10d rendezvous), e.g. node 0's address
    device: str = "auto"  # auto | cpu | cuda
    bf16: bool = False  # autocast to bfloat16 on GPU; CPU always runs fp32
    compile: str = ""  # torch.compile mode for the training step: "" (eager) or one of COMPILE_MODES
    finetune_text: bool = False  # train the text encoder with DSRF, from the store's token ids
    text_lr: float = 2e-5  # its learning rate (the rest of the model keeps lr)
    num_workers: int = 0
    store: str = "data/store"
    out: str = "models"  # best checkpoint per seed
    state: str = "runs"  # resumable state per seed (kept across `dvc repro`)

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ValueError("train.seeds: give at least one seed")
        if self.preset and self.preset not in PRESETS:
            raise ValueError(f"train.preset: {self.preset!r} is not one of {list(PRESETS)}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"train.device: {self.device!r} is not auto, cpu or cuda")
        if self.nproc < 1 or self.nnodes < 1 or self.batch_size < 1 or self.epochs < 1:
            raise ValueError("train.nproc, train.nnodes, train.batch_size and train.epochs must be at least 1")
        if self.nnodes > 1 and ":" not in self.rdzv_endpoint:
            raise ValueError(f"train.rdzv_endpoint: train.nnodes {self.nnodes} needs the host:port where the nodes "
                             f"meet (e.g. the first node's address and a free port), got {self.rdzv_endpoint!r}")
        if self.text_lr <= 0:
            raise ValueError(f"train.text_lr: {self.text_lr} must be positive")
        if self.compile and self.compile not in COMPILE_MODES:
            raise ValueError(f"train.compile: {self.compile!r} is not \"\" (eager) or one of {list(COMPILE_MODES)}")

    @property
    def fixed_shapes(self) -> bool:
        """A compiled step sees one shape (a CUDA graph replays only that, and recompiling for every
        batch length costs more than it saves): batches keep the store's lengths, the last partial one
        is dropped."""
        return bool(self.compile)

    def with_preset(self) -> "TrainConfig":
        if not self.preset:
            return self
        p = PRESETS[self.preset]
        return dataclasses.replace(self, lr=p.lr, batch_size=p.batch_size, weight_decay=p.weight_decay)


class NonFiniteLoss(ArithmeticError):
    """A loss term or the valid criterion became NaN/inf; the last good checkpoint stays on disk."""


@dataclass
class Predictions:
    ids: list[str]
    y_true: np.ndarray  # (N,)
    y_pred: np.ndarray  # (N,)


@dataclass
class FitResult:
    seed: int
    best_epoch: int
    best_valid: dict[str, float]
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def is_better(metric: str, value: float, best: float | None) -> bool:
    if best is None:
        return True
    return value < best if metric in LOWER_IS_BETTER else value > best


def autocast(ctx: Context, bf16: bool):
    return torch.autocast(device_type=ctx.device.type, dtype=torch.bfloat16, enabled=bf16 and ctx.device.type == "cuda")


@torch.no_grad()
def predict(model: DSRF, loader: DataLoader, ctx: Context, bf16: bool = False) -> Predictions:
    """Predictions over a whole split, gathered from every rank (duplicates of padding dropped)."""
    model.eval()
    ids: list[str] = []
    true: list[np.ndarray] = []
    pred: list[np.ndarray] = []
    for batch in loader:
        batch = batch.to(ctx.device)
        with autocast(ctx, bf16):
            out = model(batch.inputs, batch.lengths, batch.present, tokens=batch.tokens)
        ids += batch.ids
        true.append(batch.labels.float().cpu().numpy())
        pred.append(out.prediction.float().cpu().numpy())
    local = (ids, np.concatenate(true) if true else np.zeros(0), np.concatenate(pred) if pred else np.zeros(0))
    seen: dict[str, tuple[float, float]] = {}
    for rank_ids, rank_true, rank_pred in gather_objects(ctx, local):
        for i, t, p in zip(rank_ids, rank_true, rank_pred):
            seen.setdefault(i, (float(t), float(p)))
    order = sorted(seen)
    return Predictions(order, np.array([seen[i][0] for i in order]), np.array([seen[i][1] for i in order]))


def param_groups(model: DSRF, cfg: TrainConfig) -> list[dict[str, Any]]:
    """AdamW groups: DSRF at train.lr, a fine-tuned text encoder at train.text_lr (a pretrained encoder
    forgets what it knows at the head's rate)."""
    backbone = list(model.text_backbone.parameters()) if model.text_backbone is not None else []
    taken = {id(p) for p in backbone}
    groups = [{"params": [p for p in model.parameters() if id(p) not in taken]}]
    return groups + ([{"params": backbone, "lr": cfg.text_lr}] if backbone else [])


def _train_epoch(model, forward, loader, optimizer, cfg: TrainConfig, ctx: Context, epoch: int,
                 progress: Callable[[Any], Any]) -> dict[str, float]:
    model.train()
    if hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch)
    sums: dict[str, torch.Tensor] = {}
    count = 0
    for batch in progress(loader):
        batch = batch.to(ctx.device)
        with autocast(ctx, cfg.bf16):
            out = forward(batch.inputs, batch.lengths, batch.present, batch.labels, tokens=batch.tokens)
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
    return mean_across(ctx, {f"train/{k}": (v / max(count, 1)).item() for k, v in sums.items()})


def fit(
    model: DSRF,
    train_loader: DataLoader,
    valid_loader: DataLoader,
    cfg: TrainConfig,
    ctx: Context,
    seed: int,
    dataset: str,
    state_path: Path,
    best_path: Path,
    extra: dict[str, Any],
    log: Callable[[dict[str, float], int], None] = lambda metrics, epoch: None,
    progress: Callable[[Any], Any] = lambda it: it,
) -> FitResult:
    """Train one seed; resume from `state_path` when it holds a run of the same fingerprint.

    `extra` goes into every checkpoint (manifest, train settings); its "fingerprint" entry decides
    whether a saved state belongs to this run.
    """
    model.to(ctx.device)
    ddp_model = DistributedDataParallel(model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None) if ctx.distributed else model
    # The model's whole loss is one graph (no data-dependent branches), so on GPU compiling pays off
    # in fewer kernel launches (on CPU it measured slower: README, Results); validation stays eager.
    forward = torch.compile(ddp_model, mode=None if cfg.compile == "default" else cfg.compile, dynamic=False) if cfg.compile else ddp_model
    optimizer = torch.optim.AdamW(param_groups(model, cfg), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start, best, best_epoch, bad_epochs, history = 0, None, -1, 0, []
    best_valid: dict[str, float] = {}

    if state_path.is_file():
        state = load_checkpoint(state_path)
        # Only an interrupted run of the same settings resumes; a finished one (rerun because code or
        # inputs changed) starts again from scratch.
        if state.get("fingerprint") == extra["fingerprint"] and not state.get("finished", False):
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start, best, best_epoch, bad_epochs = state["epoch"] + 1, state["best"], state["best_epoch"], state["bad_epochs"]
            history, best_valid = state["history"], state["best_valid"]
            torch.set_rng_state(state["rng"])

    for epoch in range(start, cfg.epochs):
        if bad_epochs >= cfg.patience:
            break
        last_epoch = epoch == cfg.epochs - 1
        train_terms = _train_epoch(model, forward, train_loader, optimizer, cfg, ctx, epoch, progress)
        predictions = predict(model, valid_loader, ctx, cfg.bf16)
        valid = compute_metrics(predictions.y_true, predictions.y_pred, dataset)
        score = valid[cfg.select_metric]
        if not math.isfinite(score):
            raise NonFiniteLoss(f"epoch {epoch}: valid {cfg.select_metric} is not finite")
        row = {**train_terms, **{f"valid/{k}": v for k, v in valid.items()}}
        history.append(row)
        improved = is_better(cfg.select_metric, score, best)
        if improved:
            best, best_epoch, best_valid, bad_epochs = score, epoch, valid, 0
        else:
            bad_epochs += 1
        if ctx.is_main:
            log(row, epoch)
            if improved:
                save_checkpoint(best_path, {**model_payload(model), **extra, "seed": seed, "epoch": epoch, "valid": valid})
            save_checkpoint(state_path, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                "best": best, "best_epoch": best_epoch, "bad_epochs": bad_epochs, "history": history,
                "best_valid": best_valid, "rng": torch.get_rng_state(), "fingerprint": extra["fingerprint"],
                "finished": last_epoch or bad_epochs >= cfg.patience,
            })
        barrier(ctx)
    return FitResult(seed, best_epoch, best_valid, len(history), history)

