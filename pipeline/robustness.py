"""Unreliable modalities at test time: one modality dropped or corrupted for a fraction of the samples.

Which samples are hit depends only on (clip id, seed), never on the batching: each clip draws a
fixed number in [0, 1) and is hit when that number is below the fraction, so the clips hit at 25 %
are among those hit at 50 %, and every model sees the same ones. `drop` marks the modality absent
(the model's presence mask: its input is never read); `noise` adds N(0, noise_std²) to the
modality's valid steps (inputs are z-scored per feature, so noise_std is in feature stds; padding
stays 0).
"""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import torch

from .data.batch import Batch

KINDS = ("drop", "noise")


def _draw(clip_id: str, seed: int) -> int:
    """A 63-bit integer fixed by (seed, clip id)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{clip_id}".encode()).digest()[:8], "little") >> 1


def hit(ids: list[str], fraction: float, seed: int = 0) -> np.ndarray:
    """(B,) bool: the clips a perturbation of `fraction` reaches."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction: {fraction} is not in [0, 1]")
    return np.array([_draw(i, seed) / 2.0**63 < fraction for i in ids], dtype=bool)


def perturb(batch: Batch, modality: str, kind: str, fraction: float, *, noise_std: float = 1.0, seed: int = 0) -> Batch:
    """A copy of `batch` with `modality` dropped or noised for the hit clips; `batch` is left as it was."""
    if kind not in KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {list(KINDS)}")
    if modality not in batch.inputs:
        raise ValueError(f"modality: {modality!r} is not in the batch (has {list(batch.inputs)})")
    rows = torch.from_numpy(hit(batch.ids, fraction, seed))  # (B,)
    if kind == "drop":
        present = batch.present.clone()  # (B, M), columns in the order of batch.inputs
        present[rows, list(batch.inputs).index(modality)] = False
        return dataclasses.replace(batch, present=present)
    x = batch.inputs[modality].clone()  # (B, T, d)
    steps = torch.arange(x.shape[1])[None, :] < batch.lengths[modality][:, None]  # (B, T)
    for row in torch.nonzero(rows).flatten().tolist():
        generator = torch.Generator().manual_seed(_draw(batch.ids[row], seed + 1))
        noise = torch.randn(x.shape[1:], generator=generator) * noise_std  # (T, d)
        x[row] += noise * steps[row, :, None]
    return dataclasses.replace(batch, inputs={**batch.inputs, modality: x})


@torch.no_grad()
def predict_perturbed(model, loader, modality: str, kind: str, fraction: float, *, noise_std: float = 1.0,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(labels (N,), predictions (N,)) of `model` over `loader` (CPU) with every batch perturbed."""
    if kind == "noise" and modality == "t" and model.text_backbone is not None:
        raise ValueError("noise on the text features does not reach a model that encodes the text's token ids itself (train.finetune_text)")
    model.eval()
    true, pred = [], []
    for batch in loader:
        batch = perturb(batch, modality, kind, fraction, noise_std=noise_std, seed=seed)
        out = model(batch.inputs, batch.lengths, batch.present, tokens=batch.tokens)
        true.append(batch.labels.numpy())
        pred.append(out.prediction.float().numpy())
    return np.concatenate(true), np.concatenate(pred)
