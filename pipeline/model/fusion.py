"""Fusion heads (docs/model.md §5; the paper's eq. 16): the weighted modality outputs w^m z^m -> task output.

`concat` (default) is the paper's: an MLP over [w^t z^t ; w^a z^a ; w^v z^v]. `attention` pools the
modalities with a learned query, `transformer` mixes them with one encoder layer and averages;
both mask missing modalities, so those contribute nothing.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .layers import masked_softmax


def _head(in_features: int, hidden: int, outputs: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, outputs))


class FusionHead(nn.Module):
    def __init__(self, kind: str, num_modalities: int, hidden: int, heads: int, outputs: int, dropout: float):
        super().__init__()
        self.kind = kind
        if kind == "concat":
            self.head = _head(num_modalities * hidden, hidden, outputs, dropout)
            return
        if kind == "attention":
            self.query = nn.Parameter(torch.randn(hidden) / math.sqrt(hidden))
            self.key = nn.Linear(hidden, hidden)
        else:  # transformer
            self.modality_embedding = nn.Parameter(torch.zeros(num_modalities, hidden))
            self.mixer = nn.TransformerEncoderLayer(hidden, heads, 4 * hidden, dropout, batch_first=True)
        self.head = _head(hidden, hidden, outputs, dropout)

    def forward(self, tokens: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """tokens w^m z^m (B, M, d) (0 where missing), present (B, M) -> output (B, outputs)."""
        if self.kind == "concat":
            return self.head(tokens.flatten(1))
        if self.kind == "attention":
            scores = self.key(tokens) @ self.query / math.sqrt(tokens.shape[-1])  # (B, M)
            pooled = (masked_softmax(scores, present).unsqueeze(-1) * tokens).sum(1)
            return self.head(pooled)
        # A sample with no modality at all would mask every key (NaN); let it attend to its zeros.
        padding = ~present & present.any(1, keepdim=True)
        mixed = self.mixer(tokens + self.modality_embedding, src_key_padding_mask=padding)  # (B, M, d)
        weights = present.unsqueeze(-1).to(tokens.dtype)
        return self.head((mixed * weights).sum(1) / weights.sum(1).clamp(min=1))
