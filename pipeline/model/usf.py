"""Uncertainty-aware Semantic Fusion (docs/model.md §5, paper §3.6), up to the per-modality outputs.

Four uncertainties per modality from a linear probe's class distributions, calibrated across
modalities, turn into factor weights α, a gate g and modality weights w. The fusion head that
combines the weighted modalities is `fusion.py`.

Deviations from the paper, as docs/model.md §11 lists them:
- `L_USF` maximizes the entropy of q(z) (`- gamma_u * H`); the paper's `+γ·ΣH` would push toward
  the overconfidence its own text says the term avoids;
- in eval mode the perturbation ε of `u_e` is one fixed draw per (modality, dim) from seed
  `perturb_seed`, so a prediction is deterministic and does not depend on its batch-mates;
- with `use_usf: false` the weights are equal (α = 1/4, g = 1, w = 1/|present|), no probe is
  built and the uncertainties reported are 0.

Options beyond the paper (docs/model.md §5), for weights that tell modalities and clips apart:
- `loss.w_probe`: the paper never says how the probe q is trained, and untrained (only L_USF acts
  on it, whose entropy term pushes it toward uniform) every q is near uniform, u_a ≈ ln C for every
  modality and clip and the weights come out equal. With w_probe > 0 the probe learns the sentiment
  class from r_e (cross-entropy), so its distributions mean something;
- `model.usf_temperature` τ: α = softmax(−ũ/τ) and w = softmax(−mean ũ/τ); τ < 1 sharpens them;
- `model.ambiguity_reads`: u_a is the entropy of q(r_a) (`ambiguity`, the paper) or of q(r_e)
  (`emotion`: how sure the modality's sentiment evidence itself is).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .layers import PerModalityLayerNorm, PerModalityLinear, entropy, kl_divergence, masked_mean, masked_softmax


@dataclass
class FusionInputs:
    z: torch.Tensor  # (B, M, d) per-modality outputs, 0 where missing
    factor_weights: torch.Tensor  # α (B, M, 4)
    modality_weights: torch.Tensor  # w (B, M)
    uncertainty: torch.Tensor  # calibrated ũ (B, M, 4)
    weighted_factors: torch.Tensor  # r̂_w (B, M, d), for L_USF


class UncertaintyFusion(nn.Module):
    def __init__(self, num_modalities: int, hidden: int, num_classes: int, enabled: bool,
                 perturb_std: float, perturb_seed: int, lambda_cal: float, temperature: float = 1.0,
                 ambiguity_reads: str = "ambiguity"):
        super().__init__()
        self.enabled = enabled
        self.perturb_std = perturb_std
        self.lambda_cal = lambda_cal
        self.temperature = temperature
        self.ambiguity_reads = ambiguity_reads
        self.norm = PerModalityLayerNorm(num_modalities, hidden)
        if enabled:
            self.probe = PerModalityLinear(num_modalities, hidden, num_classes)
            self.gate = PerModalityLinear(num_modalities, 2, hidden)
            generator = torch.Generator().manual_seed(perturb_seed)
            self.register_buffer("eval_noise", torch.randn(num_modalities, hidden, generator=generator) * perturb_std)

    def q(self, r: torch.Tensor) -> torch.Tensor:
        """The probe's class distribution, (B, M, d) -> (B, M, C)."""
        return torch.softmax(self.probe(r), dim=-1)

    def uncertainties(self, factors: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Calibrated ũ (B, M, 4) in factor order (e, c, a, n); eq. 15."""
        r_e, r_c, r_a, r_n = factors.unbind(2)
        noise = torch.randn_like(r_e) * self.perturb_std if self.training else self.eval_noise
        u = torch.stack(
            [
                kl_divergence(self.q(r_e + r_a), self.q(r_e + r_a + noise)),
                kl_divergence(self.q(r_e), self.q(r_e + r_c)),
                entropy(self.q(r_a if self.ambiguity_reads == "ambiguity" else r_e)),
                r_n.norm(dim=-1) / math.sqrt(r_n.shape[-1]),
            ],
            dim=-1,
        )  # (B, M, 4)
        direction = F.normalize(r_a, dim=-1)
        cos = torch.einsum("bmd,bnd->bmn", direction, direction)  # (B, M, M)
        others = present.unsqueeze(1) & ~torch.eye(present.shape[1], dtype=torch.bool, device=present.device)
        calibration = (cos * others).sum(-1, keepdim=True)  # (B, M, 1): Σ over other present modalities
        return (u + self.lambda_cal * calibration) * present.unsqueeze(-1)

    def forward(self, factors: torch.Tensor, h_hat: torch.Tensor, present: torch.Tensor) -> FusionInputs:
        """factors (B, M, 4, d), ĥ (B, M, d), present (B, M) -> per-modality outputs and weights."""
        r_e, r_c, r_a, _ = factors.unbind(2)
        mask = present.unsqueeze(-1)  # (B, M, 1)
        if self.enabled:
            u = self.uncertainties(factors, present)
            alpha = torch.softmax(-u / self.temperature, dim=-1)  # eq. 13, over the 4 factors
            gate = torch.sigmoid(self.gate(u[..., 1:3]))  # eq. 14, from (ũ_c, ũ_a): (B, M, d)
            modality_weights = masked_softmax(-u.mean(-1) / self.temperature, present)  # (B, M)
        else:
            u = factors.new_zeros(factors.shape[:3])
            alpha = torch.full_like(u, 0.25)
            gate = torch.ones_like(r_e)
            modality_weights = present.to(factors.dtype) / present.sum(1, keepdim=True).clamp(min=1)
        weighted = (alpha.unsqueeze(-1) * factors).sum(2)  # r̂_w (B, M, d)
        gated = r_e + gate * (r_c + r_a)  # r̂_g
        z = torch.where(mask, self.norm(weighted + gated + h_hat), torch.zeros_like(h_hat))
        return FusionInputs(z, alpha * mask, modality_weights, u, weighted)

    def loss(self, fused: FusionInputs, factors: torch.Tensor, present: torch.Tensor, classes: torch.Tensor,
             gamma_u: float, w_probe: float) -> dict[str, torch.Tensor]:
        """`L_USF` (eq. 17) with its parts by name, plus the probe's cross-entropy on the sentiment
        classes (B,) from r_e, weighted by `w_probe` (0: the paper, whose probe is untrained)."""
        kl = masked_mean(kl_divergence(self.q(fused.weighted_factors), self.q(factors[:, :, 0])), present)
        ent = masked_mean(entropy(self.q(fused.z)), present)
        logits = self.probe(factors[:, :, 0])  # (B, M, C)
        probe = masked_mean(F.cross_entropy(logits.transpose(1, 2), classes[:, None].expand(-1, logits.shape[1]), reduction="none"), present)
        return {"usf_kl": kl, "usf_ent": ent, "usf_probe": probe, "usf": kl - gamma_u * ent + w_probe * probe}
