"""Batch inference: a model's predictions over a whole split, gathered from every DDP rank."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from .distributed import Context, gather_objects
from .model import SentimentModel


@dataclass
class Predictions:
    ids: list[str]
    y_true: np.ndarray  # (N,)
    y_pred: np.ndarray  # (N,)


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
