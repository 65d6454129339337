"""Dynamic Routing Interaction (docs/model.md §4, paper §3.5).

The four factors of a modality are input capsules; routing by agreement (Sabour et al. 2017)
forms K output capsules, and an MLP reconstructs H from them.

Deviation from the paper: it writes one matrix per factor, `v_i = W_i r_i`. With `b_ik = 0` at
the start every output capsule would then receive the same votes and stay identical at every
iteration, so here each (factor, capsule) pair has its own matrix: `v_{k|i} = W_ik r_i`.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .layers import mlp

NUM_FACTORS = 4


def squash(s: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Capsule non-linearity (eq. 9): keeps the direction, maps the norm into [0, 1)."""
    sq_norm = s.pow(2).sum(-1, keepdim=True)
    return s * (sq_norm / (1.0 + sq_norm)) / torch.sqrt(sq_norm + eps)


class DynamicRouting(nn.Module):
    def __init__(self, num_modalities: int, hidden: int, capsules: int, iterations: int, capsule_dim: int | None = None):
        super().__init__()
        capsule_dim = capsule_dim or hidden
        self.iterations = iterations
        bound = 1.0 / math.sqrt(hidden)
        # (M, factor i, capsule k, d_caps, d): one prediction matrix per (modality, factor, capsule).
        self.votes = nn.Parameter(
            torch.empty(num_modalities, NUM_FACTORS, capsules, capsule_dim, hidden).uniform_(-bound, bound)
        )
        self.reconstruct = mlp([capsules * capsule_dim, hidden, hidden], num_modalities)

    def forward(self, factors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """factors (B, M, 4, d) -> ĥ (B, M, d), coupling c (B, M, 4, K), capsules u (B, M, K, d_caps)."""
        v = torch.einsum("bmid,mikcd->bmikc", factors, self.votes)  # (B, M, 4, K, d_caps)
        logits = v.new_zeros(v.shape[:4])  # b_ik: (B, M, 4, K)
        for _ in range(self.iterations):
            coupling = torch.softmax(logits, dim=-1)  # eq. 8, over output capsules
            u = squash((coupling.unsqueeze(-1) * v).sum(2))  # (B, M, K, d_caps)
            logits = logits + (v * u.unsqueeze(2)).sum(-1)  # eq. 10: agreement <v_k|i, u_k>
        h_hat = self.reconstruct(u.flatten(2))  # eq. 11: (B, M, d)
        return h_hat, coupling, u
