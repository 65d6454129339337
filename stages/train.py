"""DVC stage `train`: DSRF on the tensor store, every seed of `train.seeds`, selection on valid.

Reads params `data`, `model`, `loss`, `train`. Writes `models/seed_<seed>.pt` (the checkpoint
chosen on valid), `models/train_summary.json`, per-epoch curves in `dvclive/`, and keeps the
resumable state in `runs/` (a persistent DVC output: an interrupted run continues from there).
With `train.nproc` > 1 or `train.nnodes` > 1 it relaunches itself under torchrun (DDP; gloo on CPU,
nccl on GPU); with `nnodes` N, each of the N machines runs the same command.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import typer
from rich.progress import track

from pipeline import distributed
from pipeline.data.loader import make_loader
from pipeline.errors import one_line_errors
from pipeline.features.settings import extraction_record, stage_settings
from pipeline.data.store import read_manifest
from pipeline.features.models import resolve_model
from pipeline.features.text import EXTRACTOR as TEXT_EXTRACTOR
from pipeline.model import DSRF, PRESETS, TextBackbone, loss_config_from_params, model_config_from_params
from pipeline.params import load_params, section_from_params
from pipeline.train import TrainConfig, fit, seed_everything


# Settings that do not change what a seed's run computes: an interrupted run resumes across them.
NOT_IN_FINGERPRINT = ("seeds", "nproc", "nnodes", "rdzv_endpoint", "num_workers", "out", "state")


@dataclasses.dataclass(frozen=True)
class TrainSetup:
    """Everything `train` reads from params, checked before any work starts."""

    train: TrainConfig
    model_params: dict
    loss_params: dict
    modalities: tuple[str, ...]
    extraction: dict  # the feature settings, kept in each checkpoint so predict repeats them


def read_setup(params_path: Path) -> TrainSetup:
    params = load_params(params_path)
    train = section_from_params(TrainConfig, "train", params.get("train")).with_preset()
    model_params = dict(params.get("model") or {})
    for key, source in (("modalities", "data.modalities"), ("input_dims", "the store"), ("num_classes", "data.dataset"), ("class_edges", "data.dataset")):
        if key in model_params:
            raise ValueError(f"model.{key}: not a model setting here; it follows {source}")
    loss_params = dict(params.get("loss") or {})
    loss_config_from_params(loss_params)  # validate now, not after the first seed
    modalities = tuple((params.get("data") or {}).get("modalities", ("t", "a", "v")))
    model_config_from_params(model_params, modalities=modalities)
    asr, features = stage_settings(params)
    return TrainSetup(train, model_params, loss_params, modalities, extraction_record(asr, features))


def build_model(setup: TrainSetup, manifest) -> DSRF:
    """DSRF for this store: input widths from its manifest, classes from its dataset family."""
    missing = [m for m in setup.modalities if m not in manifest.modalities]
    if missing:
        raise ValueError(f"data.modalities: {missing} not in the store (it has {list(manifest.modalities)})")
    preset = PRESETS[manifest.dataset]
    overrides = dict(
        modalities=setup.modalities,
        input_dims={m: manifest.dims[m] for m in setup.modalities},
        num_classes=preset.num_classes,
        class_edges=preset.class_edges,
    )
    if setup.train.preset:
        overrides["hidden"] = PRESETS[setup.train.preset].hidden
    model_config = model_config_from_params(setup.model_params, **overrides)
    backbone = text_backbone(manifest, setup) if setup.train.finetune_text else None
    return DSRF(model_config, loss_config_from_params(setup.loss_params), backbone)


def text_backbone(manifest, setup: TrainSetup) -> TextBackbone:
    """The encoder the store's text features came from, with the store's text statistics."""
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


def relaunch_with_torchrun(cfg: TrainConfig, params: Path) -> int:
    return subprocess.call(distributed.torchrun_command(cfg.nproc, cfg.nnodes, cfg.rdzv_endpoint, "pipeline",
                                                        ["train", "--params", str(params)]))


def run(params: Path) -> None:
    setup = read_setup(params)
    cfg = setup.train
    if (cfg.nproc > 1 or cfg.nnodes > 1) and "WORLD_SIZE" not in os.environ:
        code = relaunch_with_torchrun(cfg, params)
        if code:
            raise typer.Exit(code)
        return
    from dvclive import Live  # here, not at the top: it costs every other command a second to import

    ctx = distributed.setup(cfg.device)
    try:
        manifest = read_manifest(cfg.store)
        per_rank_batch = max(1, cfg.batch_size // ctx.world_size)
        if cfg.fixed_shapes and manifest.splits["train"] < per_rank_batch * ctx.world_size:
            raise ValueError(f"train.compile {cfg.compile}: full batches only, and the train split has "
                             f"{manifest.splits['train']} clips, fewer than train.batch_size {cfg.batch_size}")
        loader_args = dict(modalities=setup.modalities, num_workers=cfg.num_workers, distributed=ctx.distributed)
        out, state = Path(cfg.out), Path(cfg.state)
        live = Live("dvclive", dvcyaml=None, save_dvc_exp=False, report=None) if ctx.is_main else None
        summary = {}
        for seed in cfg.seeds:
            seed_everything(seed)
            model = build_model(setup, manifest)
            train_loader = make_loader(cfg.store, "train", per_rank_batch, shuffle=True, seed=seed,
                                       drop_last=cfg.fixed_shapes, fixed_length=cfg.fixed_shapes, **loader_args)
            valid_loader = make_loader(cfg.store, "valid", per_rank_batch, shuffle=False, seed=seed, **loader_args)
            run_id = fingerprint(dataclasses.asdict(model.config), dataclasses.asdict(model.loss_config),
                                 {k: v for k, v in dataclasses.asdict(cfg).items() if k not in NOT_IN_FINGERPRINT}, dataclasses.asdict(manifest), seed)
            extra = {"manifest": dataclasses.asdict(manifest), "train_config": dataclasses.asdict(cfg),
                     "extraction": setup.extraction, "fingerprint": run_id}

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
                summary[str(seed)] = {"best_epoch": result.best_epoch, "epochs_run": result.epochs_run, "valid": result.best_valid}
                typer.echo(f"seed {seed}: best valid {cfg.select_metric} {result.best_valid[cfg.select_metric]:.4f} at epoch {result.best_epoch}")
        if ctx.is_main:
            live.end()
            (out / "train_summary.json").write_text(json.dumps({"select_metric": cfg.select_metric, "seeds": summary}, indent=1))
    finally:
        distributed.teardown()


def command(params: Path = typer.Option(Path("params.yaml"), help="params.yaml (sections data, model, loss, train).")) -> None:
    """Train DSRF for every seed of train.seeds, choosing each checkpoint on the valid split."""
    with one_line_errors():
        run(params)
