"""MISA, modality-invariant and -specific representations (Hazarika et al., ACM MM 2020), in this harness.

Each modality's utterance vector u^m is projected to a common width and split into a shared
(invariant) part h_c^m = E_c(u^m), one encoder for all modalities, and a private (specific) part
h_p^m = E_p^m(u^m). Three losses shape the split:

- similarity `sim`: the central moment discrepancy (CMD, moments 1..5) between the shared parts of
  every pair of modalities, so that they come from one distribution;
- difference `diff`: soft orthogonality, ‖A^T B‖²_F of the batch-centred, row-normalized matrices,
  between each modality's shared and private parts and between every two private parts;
- reconstruction `recon`: a decoder per modality rebuilds u^m from h_c^m + h_p^m (mean squared error).

The six vectors go through a Transformer encoder layer as a sequence of six tokens, their outputs
are concatenated, and an MLP gives the task output. Total: task + `w_sim`·sim + `w_diff`·diff +
`w_recon`·recon.

Choices where the paper leaves them open or does not fit this harness:
- u^m is DSRF's modality encoder's output at the last valid step (the paper: BERT for text, an
  LSTM over frames for audio and vision), so every model reads the same sequences the same way;
  the projection is linear, ReLU, LayerNorm, to width `model.hidden`, and the shared and private
  encoders are one linear layer with a sigmoid each, as in the paper;
- loss weights 1.0 / 0.3 / 1.0 (sim / diff / recon), the authors' released defaults;
- a missing modality's two tokens are masked in the Transformer and zeroed in the concatenation;
  every loss is taken over the clips where its modalities are present (a CMD moment over the clips
  that have both modalities; no pair for a modality alone gives 0).
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import torch
import torch.nn.functional as F
from torch import nn

from .base import SentimentModel
from .config import ModelConfig
from .layers import masked_mean
from .output import ModelOutput
from .text_backbone import TextBackbone


@dataclass(frozen=True)
class MISAConfig:
    """params.yaml `model.misa:`."""

    w_sim: float = 1.0
    w_diff: float = 0.3
    w_recon: float = 1.0
    moments: int = 5  # central moments compared by CMD


def cmd(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, moments: int) -> torch.Tensor:
    """Central moment discrepancy between the rows of x and y (B, d) that `weight` (B,) keeps;
    values lie in [0, 1] (sigmoid outputs), so the moments need no scaling."""
    w = weight.to(x.dtype)[:, None]  # (B, 1)
    count = w.sum().clamp(min=1)
    mx, my = (x * w).sum(0) / count, (y * w).sum(0) / count  # (d,)
    total = (mx - my).norm()
    cx, cy = x - mx, y - my
    for k in range(2, moments + 1):
        total = total + ((cx.pow(k) * w).sum(0) / count - (cy.pow(k) * w).sum(0) / count).norm()
    return total * (weight.sum() > 1)  # one clip has no distribution to compare


def soft_orthogonality(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """mean((A^T B)²) for A, B (B, d) centred over the kept rows (`weight` (B,)) and L2-normalized per row."""
    w = weight.to(a.dtype)[:, None]
    count = w.sum().clamp(min=1)
    a = (a - (a * w).sum(0) / count) * w
    b = (b - (b * w).sum(0) / count) * w
    a = a / (a.norm(dim=1, keepdim=True) + 1e-6)
    b = b / (b.norm(dim=1, keepdim=True) + 1e-6)
    return (a.T @ b).pow(2).mean()


class MISA(SentimentModel):
    def __init__(self, config: ModelConfig, own: MISAConfig = MISAConfig(), text_backbone: TextBackbone | None = None):
        super().__init__(config, own, text_backbone)
        c = config
        d = c.hidden
        self.encoders = self.modality_encoders()
        self.project = nn.ModuleDict({m: nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.LayerNorm(d)) for m in c.modalities})
        self.shared = nn.Sequential(nn.Linear(d, d), nn.Sigmoid())
        self.private = nn.ModuleDict({m: nn.Sequential(nn.Linear(d, d), nn.Sigmoid()) for m in c.modalities})
        self.decode = nn.ModuleDict({m: nn.Linear(d, d) for m in c.modalities})
        self.mixer = nn.TransformerEncoderLayer(d, c.heads, 4 * d, c.dropout, batch_first=True)
        tokens = 2 * len(c.modalities)
        self.head = nn.Sequential(nn.Linear(tokens * d, d), nn.ReLU(), nn.Dropout(c.dropout), nn.Linear(d, self.outputs))

    def forward(self, inputs, lengths, present=None, labels=None, tokens=None, index=None, corrupted=None) -> ModelOutput:
        inputs, present = self.read_inputs(inputs, lengths, present, tokens)
        c = self.config
        u = torch.stack([self.project[m](self.encoders[m](inputs[m], lengths[m])[0]) for m in c.modalities], 1)  # (B, M, d)
        shared = self.shared(u)  # (B, M, d)
        private = torch.stack([self.private[m](u[:, i]) for i, m in enumerate(c.modalities)], 1)  # (B, M, d)
        kept = torch.cat([present, present], dim=1)  # (B, 2M): private tokens, then shared ones
        sequence = torch.cat([private, shared], dim=1)  # (B, 2M, d)
        # A clip with no modality at all would mask every key (NaN): let it attend to its tokens.
        mixed = self.mixer(sequence, src_key_padding_mask=~kept & kept.any(1, keepdim=True))
        output = self.head(torch.where(kept.unsqueeze(-1), mixed, 0.0).flatten(1))
        extra = None
        if labels is not None:
            w = self.own
            extra = {"sim": (w.w_sim, self._similarity(shared, present)), "diff": (w.w_diff, self._difference(shared, private, present)),
                     "recon": (w.w_recon, self._reconstruction(u, shared, private, present))}
        return self.result(output, labels, extra)

    def _similarity(self, shared: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        pairs = list(combinations(range(shared.shape[1]), 2))
        terms = [cmd(shared[:, i], shared[:, j], present[:, i] & present[:, j], self.own.moments) for i, j in pairs]
        return torch.stack(terms).mean() if terms else shared.new_zeros(())

    def _difference(self, shared: torch.Tensor, private: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        count = shared.shape[1]
        terms = [soft_orthogonality(shared[:, i], private[:, i], present[:, i]) for i in range(count)]
        terms += [soft_orthogonality(private[:, i], private[:, j], present[:, i] & present[:, j]) for i, j in combinations(range(count), 2)]
        return torch.stack(terms).sum()

    def _reconstruction(self, u: torch.Tensor, shared: torch.Tensor, private: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        rebuilt = torch.stack([self.decode[m](shared[:, i] + private[:, i]) for i, m in enumerate(self.config.modalities)], 1)
        return masked_mean(F.mse_loss(rebuilt, u, reduction="none").mean(-1), present)
