"""Training: AdamW, selection and early stopping on the valid split only, resumable, DDP-ready.

`train_seeds` is the `train` stage: the model params.yaml describes, built for the store, trained
once per seed of `train.seeds`. One seed is `fit`: every epoch, train, score the valid split
(predictions gathered from all ranks before any metric), keep the checkpoint with the best valid
criterion, save the state needed to resume. The test split is never read here.

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
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from . import distributed
from .augment import Perturbation, perturb_batch
from .checkpoint import load_checkpoint, model_payload, save_checkpoint
from .data.loader import make_loader
from .data.store import Manifest, read_manifest
from .datasets import DATASETS, PRESETS
from .distributed import Context, barrier, gather_objects, mean_across
from .metrics import LOWER_IS_BETTER, compute_metrics, metric_names
from .model import SentimentModel, TextBackbone, model_config_from_params, own_config, registry
from .modalities import MODALITIES
from .params import section_from_params

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
    # Training-time perturbation (pipeline/augment.py), off at 0: a (clip, modality) dropped with this
    # probability; this fraction of clips with one modality replaced by noise / by another clip's.
    modality_dropout: float = 0.0
    feature_noise: float = 0.0
    feature_conflict: float = 0.0
    num_workers: int = 0
    threads: int = 0  # torch threads per process; 0 = the cores this process may use / nproc (pipeline/threads.py)
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
        self.perturbation  # checks the three rates

    @property
    def perturbation(self) -> Perturbation:
        return Perturbation(self.modality_dropout, self.feature_noise, self.feature_conflict)

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
def predict(model: SentimentModel, loader: DataLoader, ctx: Context, bf16: bool = False) -> Predictions:
    """Predictions over a whole split, gathered from every rank (duplicates of padding dropped)."""
    model.eval()
    ids: list[str] = []
    true: list[np.ndarray] = []
    pred: list[np.ndarray] = []
    for batch in loader:
        batch = batch.to(ctx.device)
        with autocast(ctx, bf16):
            out = model(batch.inputs, batch.lengths, batch.present, tokens=batch.tokens, index=batch.index)
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


def param_groups(model: SentimentModel, cfg: TrainConfig) -> list[dict[str, Any]]:
    """AdamW groups: the model at train.lr, a fine-tuned text encoder at train.text_lr (a pretrained encoder
    forgets what it knows at the head's rate)."""
    backbone = list(model.text_backbone.parameters()) if model.text_backbone is not None else []
    taken = {id(p) for p in backbone}
    groups = [{"params": [p for p in model.parameters() if id(p) not in taken]}]
    return groups + ([{"params": backbone, "lr": cfg.text_lr}] if backbone else [])


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
            out = forward(batch.inputs, batch.lengths, batch.present, batch.labels, tokens=batch.tokens, index=batch.index)
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


def fit(
    model: SentimentModel,
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
        train_terms = _train_epoch(model, forward, train_loader, optimizer, cfg, ctx, seed, epoch, progress)
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



# Settings that do not change what a seed's run computes: an interrupted run resumes across them.
NOT_IN_FINGERPRINT = ("seeds", "nproc", "nnodes", "rdzv_endpoint", "num_workers", "threads", "out", "state")


@dataclass(frozen=True)
class TrainSetup:
    """Everything `train` reads from params, checked before any work starts."""

    train: TrainConfig
    model_params: dict
    loss_params: dict
    modalities: tuple[str, ...]


def train_setup(params: dict[str, Any]) -> TrainSetup:
    """The `train` stage's settings from params.yaml's sections `train`, `model`, `loss` and `data.modalities`."""
    train = section_from_params(TrainConfig, "train", params.get("train")).with_preset()
    model_params = dict(params.get("model") or {})
    for key, source in (("modalities", "data.modalities"), ("input_dims", "the store"), ("num_classes", "data.dataset"), ("class_edges", "data.dataset")):
        if key in model_params:
            raise ValueError(f"model.{key}: not a model setting here; it follows {source}")
    loss_params = dict(params.get("loss") or {})
    modalities = tuple((params.get("data") or {}).get("modalities", MODALITIES))
    setup = TrainSetup(train, model_params, loss_params, modalities)
    own_settings(setup, model_config_from_params(model_params, modalities=modalities).name)  # validate now, not after the first seed
    return setup


def own_settings(setup: TrainSetup, name: str):
    """The model's own settings: DSRF's loss weights (`loss:`), a baseline's `model.<name>`."""
    return own_config(name, setup.loss_params if name == "dsrf" else setup.model_params.get(name))


def check_store(setup: TrainSetup, manifest: Manifest) -> None:
    """What the store must offer this setup; a one-line error before any seed trains."""
    cfg = setup.train
    known = metric_names(manifest.dataset)
    if cfg.select_metric not in known:
        raise ValueError(f"train.select_metric: {cfg.select_metric!r} is not a {manifest.dataset} metric (known: {', '.join(known)})")
    missing = [m for m in setup.modalities if m not in manifest.modalities]
    if missing:
        raise ValueError(f"data.modalities: {missing} not in the store (it has {list(manifest.modalities)})")
    if cfg.fixed_shapes and manifest.splits["train"] < cfg.batch_size:
        raise ValueError(f"train.compile {cfg.compile}: full batches only, and the train split has "
                         f"{manifest.splits['train']} clips, fewer than train.batch_size {cfg.batch_size}")


def build_model(setup: TrainSetup, manifest: Manifest) -> SentimentModel:
    """The model for this store: input widths from its manifest, classes from its dataset."""
    dataset = DATASETS[manifest.dataset]
    overrides = dict(
        modalities=setup.modalities,
        input_dims={m: manifest.dims[m] for m in setup.modalities},
        num_classes=dataset.num_classes,
        class_edges=dataset.class_edges,
    )
    if setup.train.preset:
        overrides["hidden"] = PRESETS[setup.train.preset].hidden
    model_config = model_config_from_params(setup.model_params, **overrides)
    backbone = text_backbone(manifest, setup) if setup.train.finetune_text else None
    own = registry.for_store(own_settings(setup, model_config.name), manifest.splits.get("train", 0))
    return registry.build_model(model_config, own, backbone)


def text_backbone(manifest: Manifest, setup: TrainSetup) -> TextBackbone:
    """The encoder the store's text features came from, with the store's text statistics."""
    from .features.models import resolve_model
    from .features.text import EXTRACTOR as TEXT_EXTRACTOR

    if "t" not in setup.modalities:
        raise ValueError(f"train.finetune_text: data.modalities {list(setup.modalities)} has no text")
    text = manifest.features["t"]
    if text.get("extractor") != TEXT_EXTRACTOR or not manifest.text_tokens:
        raise ValueError(f"train.finetune_text: the store {setup.train.store} has no text token ids (its text features come "
                         f"from {manifest.source.get('format', '?')} / {text.get('extractor')}; extract them with "
                         "`pipeline features`, which keeps the ids, then rerun `pipeline tensors`)")
    norm = manifest.norm.get("t")
    folder = resolve_model(text["model"], "features.text.model")
    return TextBackbone.pretrained(str(folder), norm.mean if norm else None, norm.std if norm else None)


def fingerprint(*parts) -> str:
    """A short hash of what decides a run; a saved state with another one is not resumed."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def train_seeds(setup: TrainSetup, report: Callable[[str], None] = print) -> dict[str, Any]:
    """Train every seed of `train.seeds` on the store; write `train.out`/seed_<seed>.pt (the checkpoint
    chosen on valid), `train.out`/train_summary.json and the per-epoch curves in dvclive/; returns the
    summary. Under torchrun each process runs this, with its share of every batch."""
    from dvclive import Live  # here, not at the top: it costs every other command a second to import
    from rich.progress import track

    cfg = setup.train
    ctx = distributed.setup(cfg.device, cfg.threads)
    try:
        manifest = read_manifest(cfg.store)
        check_store(setup, manifest)
        per_rank_batch = max(1, cfg.batch_size // ctx.world_size)
        loader_args = dict(modalities=setup.modalities, num_workers=cfg.num_workers, distributed=ctx.distributed)
        out, state = Path(cfg.out), Path(cfg.state)
        live = Live("dvclive", dvcyaml=None, save_dvc_exp=False, report=None) if ctx.is_main else None
        seeds = {}
        for seed in cfg.seeds:
            seed_everything(seed)
            model = build_model(setup, manifest)
            train_loader = make_loader(cfg.store, "train", per_rank_batch, shuffle=True, seed=seed,
                                       drop_last=cfg.fixed_shapes, fixed_length=cfg.fixed_shapes, **loader_args)
            valid_loader = make_loader(cfg.store, "valid", per_rank_batch, shuffle=False, seed=seed, **loader_args)
            run_id = fingerprint(dataclasses.asdict(model.config), registry.own_as_dict(model),
                                 {k: v for k, v in dataclasses.asdict(cfg).items() if k not in NOT_IN_FINGERPRINT},
                                 dataclasses.asdict(manifest), seed)
            extra = {"manifest": dataclasses.asdict(manifest), "train_config": dataclasses.asdict(cfg),
                     "extraction": manifest.extraction, "fingerprint": run_id}

            def log(row: dict[str, float], epoch: int, seed: int = seed) -> None:
                live.step = epoch
                for name, value in row.items():
                    live.log_metric(f"seed_{seed}/{name}", value)
                live.next_step()

            def progress(loader, seed: int = seed):
                return track(loader, description=f"seed {seed}", transient=True, disable=not ctx.is_main or not sys.stderr.isatty())

            result = fit(model, train_loader, valid_loader, cfg, ctx, seed, manifest.dataset,
                         state / f"seed_{seed}" / "state.pt", state / f"seed_{seed}" / "best.pt", extra, log, progress)
            if ctx.is_main:
                out.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(state / f"seed_{seed}" / "best.pt", out / f"seed_{seed}.pt")
                seeds[str(seed)] = {"best_epoch": result.best_epoch, "epochs_run": result.epochs_run, "valid": result.best_valid}
                report(f"seed {seed}: best valid {cfg.select_metric} {result.best_valid[cfg.select_metric]:.4f} at epoch {result.best_epoch}")
        summary = {"select_metric": cfg.select_metric, "seeds": seeds}
        if ctx.is_main:
            live.end()
            (out / "train_summary.json").write_text(json.dumps(summary, indent=1))
        return summary
    finally:
        distributed.teardown()
