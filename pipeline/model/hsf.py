"""Hierarchical Semantic Factorization (docs/model.md §3, paper §3.4).

Each modality's H is split into four factors: emotion (one MLP shared by all modalities),
context (sees the mean H of the other present modalities), ambiguity and noise (per modality).

Deviations from the paper, as docs/model.md §11 lists them:
- the context encoder's undefined `r_ho^m` is the mean H of the other *present* modalities;
- "maximize I(z_e; y)" is a supervised-contrastive loss `L_mi` over the pooled emotion factors;
- `I(z_c; z_e) ≈ 0` is the cross-correlation penalty `L_orth`;
- `L_n` follows the paper's prose, not its equation: contrastive with the modality as the class;
- `L_ent_a` is logged unweighted and enters as `beta * (L_amb + w_ent * L_ent_a)`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import LossConfig
from .layers import entropy, masked_mean, mlp
from .losses import cross_correlation_penalty, supervised_contrastive, task_loss


class HierarchicalFactorization(nn.Module):
    def __init__(self, num_modalities: int, hidden: int, factor_layers: int, task_outputs: int):
        super().__init__()
        body = [hidden] * factor_layers
        self.emotion = mlp([hidden, *body])  # shared by all modalities
        self.context = mlp([2 * hidden, *body], num_modalities)
        self.ambiguity = mlp([hidden, *body], num_modalities)
        self.noise = mlp([hidden, *body], num_modalities)
        self.emotion_head = nn.Linear(hidden, task_outputs)  # shared, like the emotion encoder
        self.context_decoder = mlp([hidden, *body], num_modalities)

    def forward(self, h: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """h (B, M, d) with missing modalities zeroed, present (B, M) -> factors (B, M, 4, d)."""
        mask = present.unsqueeze(-1).to(h.dtype)  # (B, M, 1)
        others_sum = (h * mask).sum(1, keepdim=True) - h * mask  # (B, M, d)
        others_count = (mask.sum(1, keepdim=True) - mask).clamp(min=1)  # (B, M, 1)
        h_others = others_sum / others_count  # 0 where no other modality is present
        context = self.context(torch.cat([h, h_others], dim=-1))
        return torch.stack([self.emotion(h), context, self.ambiguity(h), self.noise(h)], dim=2)

    def unimodal_errors(self, factors: torch.Tensor, labels: torch.Tensor, classes: torch.Tensor, task: str) -> torch.Tensor:
        """The task loss (B, M) of each modality's own prediction, the emotion head's on r_e (factors (B, M, 4, d))."""
        out = self.emotion_head(factors[:, :, 0])  # (B, M, outputs)
        out = out.squeeze(-1) if task == "regression" else out
        shape = out.shape[:2]
        return task_loss(out, labels.unsqueeze(1).expand(shape), classes.unsqueeze(1).expand(shape), task)

    def losses(
        self,
        factors: torch.Tensor,
        errors: torch.Tensor,
        context_target: torch.Tensor,
        present: torch.Tensor,
        classes: torch.Tensor,
        cfg: LossConfig,
    ) -> dict[str, torch.Tensor]:
        """Every loss term of docs/model.md §3 by name, plus their weighted sum `hsf`.

        factors (B, M, 4, d); errors (B, M) each modality's own task loss (`unimodal_errors`), whose
        mean is L_emo; context_target S (B, M, d); present (B, M); classes (B,).
        """
        batch, num_modalities, _, d = factors.shape
        r_e, r_c, r_a, r_n = factors.unbind(2)  # each (B, M, d)

        def per_modality(t: torch.Tensor) -> torch.Tensor:  # (B,) -> (B, M)
            return t.unsqueeze(1).expand(batch, num_modalities)

        terms = {
            "emo": masked_mean(errors, present),
            "mi": supervised_contrastive(r_e.flatten(0, 1), per_modality(classes).flatten(), present.flatten(), cfg.tau),
            "ctx": masked_mean(F.mse_loss(self.context_decoder(r_c), context_target.detach(), reduction="none").mean(-1), present),
            "orth": cross_correlation_penalty(r_c, r_e, present),
            "amb": masked_mean(F.relu(cfg.margin - (r_a - r_e).norm(dim=-1) / math.sqrt(d)), present),
            "ent_a": masked_mean(-entropy(torch.softmax(r_a, dim=-1)), present),
            "noise": supervised_contrastive(
                r_n.flatten(0, 1),
                torch.arange(num_modalities, device=factors.device).repeat(batch),
                present.flatten(),
                cfg.tau,
            ),
        }
        terms["hsf"] = (
            terms["emo"]
            + cfg.alpha * terms["ctx"]
            + cfg.beta * (terms["amb"] + cfg.w_ent * terms["ent_a"])
            + cfg.gamma * terms["noise"]
            + cfg.w_mi * terms["mi"]
            + cfg.w_orth * terms["orth"]
        )
        return terms
