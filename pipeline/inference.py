"""Batch inference: a model's predictions over a whole split, gathered from every DDP rank, and every
seed's predictions over a split."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from .checkpoint import load_checkpoint, model_from_checkpoint
from .confidence import Ensemble, ensemble
from .data.loader import make_loader
from .transcripts import DEFAULT as DEFAULT_TRANSCRIPT
from .distributed import Context, gather_objects
from .model import SentimentModel


@dataclass
class Predictions:
    ids: list[str]
    y_true: np.ndarray  # (N,)
    y_pred: np.ndarray  # (N,)
    expected_error: np.ndarray | None = None  # (N,) the model's own estimate of |y − y_pred|, where it has one


def autocast(ctx: Context, bf16: bool):
    return torch.autocast(device_type=ctx.device.type, dtype=torch.bfloat16, enabled=bf16 and ctx.device.type == "cuda")


@torch.no_grad()
def predict(model: SentimentModel, loader: DataLoader, ctx: Context, bf16: bool = False) -> Predictions:
    """Predictions over a whole split, gathered from every rank (duplicates of padding dropped)."""
    model.eval()
    ids: list[str] = []
    true: list[np.ndarray] = []
    pred: list[np.ndarray] = []
    error: list[np.ndarray] = []
    for batch in loader:
        batch = batch.to(ctx.device)
        with autocast(ctx, bf16):
            out = model(batch.inputs, batch.lengths, batch.present, tokens=batch.tokens, index=batch.index)
        ids += batch.ids
        true.append(batch.labels.float().cpu().numpy())
        pred.append(out.prediction.float().cpu().numpy())
        if out.expected_error is not None:
            error.append(out.expected_error.float().cpu().numpy())

    def joined(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.full(len(ids), np.nan)

    local = (ids, joined(true), joined(pred), joined(error))
    seen: dict[str, tuple[float, float, float]] = {}
    for rank_ids, *columns in gather_objects(ctx, local):
        for i, t, p, e in zip(rank_ids, *columns):
            seen.setdefault(i, (float(t), float(p), float(e)))
    order = sorted(seen)
    true_, pred_, error_ = (np.array([seen[i][k] for i in order]) for k in range(3))
    return Predictions(order, true_, pred_, None if np.isnan(error_).all() else error_)


@dataclass
class SeedScores:
    """Every seed's predictions over one split, clips in one order."""

    ids: list[str]
    y_true: np.ndarray  # (N,)
    predictions: np.ndarray  # (S, N)
    expected_errors: np.ndarray | None  # (S, N) from the models' error heads; None where they have none

    def members(self) -> Ensemble:
        return ensemble(self.predictions, self.expected_errors)


def split_loader(model: SentimentModel, store: Path, split: str, batch_size: int,
                 transcript: str = DEFAULT_TRANSCRIPT) -> DataLoader:
    """`split` of the store in order, as `model` reads it: its modalities, its text from `transcript`."""
    hidden = model.text_backbone is not None and model.text_backbone.top > 0  # it reads the states below its tuned layers
    return make_loader(store, split, batch_size, shuffle=False, modalities=model.config.modalities,
                       transcripts=(transcript,), hidden=hidden)


def score_seeds(checkpoints: list[Path], store: Path, split: str, ctx: Context, batch_size: int,
                transcript: str = DEFAULT_TRANSCRIPT) -> SeedScores:
    """Each checkpoint's predictions over `split` of the store, its text read from `transcript`."""
    runs = []
    for path in checkpoints:
        model = model_from_checkpoint(load_checkpoint(path)).to(ctx.device)
        runs.append(predict(model, split_loader(model, store, split, batch_size, transcript), ctx))
    errors = [r.expected_error for r in runs]
    return SeedScores(runs[0].ids, runs[0].y_true, np.stack([r.y_pred for r in runs]),
                      None if any(e is None for e in errors) else np.stack(errors))
