"""Small building blocks shared by the DSRF modules.

Per-modality weights are stacked into one tensor (M, in, out) and applied with one einsum, so
the three modalities cost one kernel instead of a Python loop of three.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class PerModalityLinear(nn.Module):
    """M independent linear maps applied at once: (B, M, in) -> (B, M, out)."""

    def __init__(self, num_modalities: int, in_features: int, out_features: int):
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)  # nn.Linear's default initialization range
        self.weight = nn.Parameter(torch.empty(num_modalities, in_features, out_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(num_modalities, out_features).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bmi,mio->bmo", x, self.weight) + self.bias


def mlp(sizes: list[int], num_modalities: int | None = None) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last: factors stay signed).

    With `num_modalities`, each modality gets its own weights (input (B, M, in)); without, one
    set is shared by all modalities.
    """
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(n_in, n_out) if num_modalities is None else PerModalityLinear(num_modalities, n_in, n_out))
    return nn.Sequential(*layers)


class PerModalityLayerNorm(nn.Module):
    """LayerNorm over the last dim with a separate affine transform per modality: (B, M, d)."""

    def __init__(self, num_modalities: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_modalities, dim))
        self.bias = nn.Parameter(torch.zeros(num_modalities, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:]) * self.weight + self.bias


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """The Transformer's sinusoidal position encoding, (length, dim)."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(position * freq)
    pe[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return pe


def masked_softmax(logits: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax over the entries where `mask` holds; masked entries (and all-masked rows) get 0."""
    logits = logits.masked_fill(~mask, float("-inf"))
    # An all-masked row would be softmax(-inf, ...) = NaN; give it 0 everywhere instead.
    safe = torch.where(mask.any(dim, keepdim=True), logits, torch.zeros_like(logits))
    return torch.softmax(safe, dim) * mask


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `x` over the entries where `mask` holds (same shape as x); 0 where none does."""
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy over the last dim, in nats."""
    return -(probs * torch.log(probs.clamp(min=1e-12))).sum(-1)


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) over the last dim, for probability vectors."""
    return (p * (torch.log(p.clamp(min=1e-12)) - torch.log(q.clamp(min=1e-12)))).sum(-1)
