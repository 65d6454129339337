"""Uncertainty-aware Semantic Fusion (docs/model.md §5, paper §3.6), up to the per-modality outputs.

Four uncertainties per modality from a linear probe's class distributions, put on a common
footing and calibrated across modalities, turn into factor weights α, a gate g and modality
weights w. The fusion head that combines the weighted modalities is `fusion.py`.

Deviations from the paper, as docs/model.md §11 lists them:
- `L_USF` maximizes the entropy of q(z) (`- gamma_u * H`); the paper's `+γ·ΣH` would push toward
  the overconfidence its own text says the term avoids;
- `u_e` is the expectation over ε of the paper's KL (`model.u_e: expected`), to second order in σ:
  ½σ²·tr(H_p·WᵀW), with H_p = diag(p) − ppᵀ the softmax's curvature at p = q(r_e + r_a) and W the
  probe's weights. One draw (`sampled`, the paper) is a noisy estimate whose draw differs between
  training (fresh ε) and evaluation (one fixed ε from `perturb_seed`);
- the four uncertainties live in different units (KLs near 1e-3, an entropy near 2 nats, a norm
  near .25), so softmax(−ũ) would switch factors on and off by unit. With `model.usf_footing:
  standardized` each is z-scored by its running mean and std over training clips and modalities
  (statistics like batch norm's, no affine, detached) before calibration; `raw` is the paper;
- the probe's cross-entropy (`loss.w_probe`) reads a detached r_e, so it teaches the probe without
  training the backbone (`loss.probe_moves_backbone: true` lets it through, as before);
- with `use_usf: false` the module is gone, not set to equal weights inside the paper's sum: each
  modality's output is LN(mean of its four factors + ĥ) (the paper's sum with α = 1/4 and g = 1
  would weigh r_e, r_c, r_a 1.25 and r_n .25), w = 1/|present|, no probe is built, no USF loss
  runs and the uncertainties reported are 0.

Options beyond the paper (docs/model.md §5):
- `loss.w_probe`: the paper never says how the probe q is trained; untrained, every q is near
  uniform and the weights come out equal. With w_probe > 0 it learns the sentiment class from r_e;
- `model.usf_temperature` τ: α = softmax(−ũ/τ) and w = softmax(−mean ũ/τ);
- `model.ambiguity_reads`: u_a is the entropy of q(r_a) (`ambiguity`, the paper) or of q(r_e)
  (`emotion`: how sure the modality's sentiment evidence itself is);
- `loss.w_flag`: where training-time perturbation noised or swapped a modality, the trainer knows
  it; a binary cross-entropy teaches each modality's mean score ũ to flag it (0: off, the paper).
- `loss.w_trust`: each modality's own prediction (HSF's emotion head on r_e) has an error the trainer
  can measure on every clip, corrupted by it or by the world; a Gaussian likelihood of that error
  teaches the score w reads to be its log expected square, so w is inverse-variance (0: off, the paper).

What the model reports as `uncertainty` is the four raw values (each ≥ 0, in its own unit);
the footed, calibrated scores that weigh the factors are internal.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .layers import PerModalityLayerNorm, PerModalityLinear, entropy, kl_divergence, masked_mean, masked_softmax

NUM_UNCERTAINTIES = 4


@dataclass
class FusionInputs:
    z: torch.Tensor  # (B, M, d) per-modality outputs, 0 where missing
    factor_weights: torch.Tensor  # α (B, M, 4)
    modality_weights: torch.Tensor  # w (B, M)
    uncertainty: torch.Tensor  # raw u (B, M, 4), ≥ 0, 0 where missing
    weighted_factors: torch.Tensor  # r̂_w (B, M, d), for L_USF
    scores: torch.Tensor  # ũ (B, M, 4), what the weights read; 0 without USF


def expected_perturbation_kl(logits: torch.Tensor, weight: torch.Tensor, std: float) -> torch.Tensor:
    """E_ε KL(softmax(l) ‖ softmax(l + εW)), ε ~ N(0, σ²I), to second order: ½σ²·tr(H_p G).

    logits (B, M, C); weight W (M, d, C) the probe's; H_p = diag(p) − ppᵀ; G = WᵀW (M, C, C), the
    covariance of the logits' perturbation over σ². Returns (B, M), ≥ 0 (H_p and G are PSD).
    """
    p = torch.softmax(logits, dim=-1)  # (B, M, C)
    gram = torch.einsum("mdi,mdj->mij", weight, weight)  # G (M, C, C)
    diag = torch.einsum("bmi,mii->bm", p, gram)  # Σ_i p_i G_ii
    quad = torch.einsum("bmi,mij,bmj->bm", p, gram, p)  # pᵀ G p
    return 0.5 * std**2 * (diag - quad).clamp(min=0)


class RunningStandardizer(nn.Module):
    """z-scores each of K columns by running statistics over the rows a mask selects, the scale at
    least `floor` times the column's mean.

    The statistics are detached and shared by training and evaluation (updated with `momentum` at
    each training step from the whole batch, every DDP rank's included; set from the first training
    batch), so in evaluation a clip's footing does not depend on its batch-mates, and it is the same
    transform in both modes.
    """

    def __init__(self, columns: int, momentum: float = 0.1, eps: float = 1e-6, floor: float = 0.1):
        super().__init__()
        self.momentum, self.eps, self.floor = momentum, eps, floor
        self.register_buffer("mean", torch.zeros(columns))
        self.register_buffer("var", torch.ones(columns))
        self.register_buffer("started", torch.zeros((), dtype=torch.bool))

    def forward(self, u: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """u (..., K), rows (...) bool -> (u − mean) / std, (..., K)."""
        if self.training:
            with torch.no_grad():  # masked statistics, no data-dependent branch (torch.compile keeps one graph)
                w = rows.unsqueeze(-1).to(u.dtype).flatten(0, -2)  # (N, 1)
                x = u.flatten(0, -2)  # (N, K)
                sums = torch.cat([w.sum(0), (x * w).sum(0), (x * x * w).sum(0)])  # (1 + 2K,)
                if dist.is_available() and dist.is_initialized():  # DDP: the statistics of the global batch
                    dist.all_reduce(sums)
                n, first, second = sums[0], sums[1 : 1 + len(self.mean)], sums[1 + len(self.mean) :]
                mean = first / n.clamp(min=1)
                var = (second / n.clamp(min=1) - mean**2).clamp(min=0)
                keep = torch.where(n > 0, torch.where(self.started, 1 - self.momentum, 0.0), 1.0)
                self.mean.copy_(keep * self.mean + (1 - keep) * mean)
                self.var.copy_(keep * self.var + (1 - keep) * var)
                self.started.copy_(self.started | (n > 0))
        # The scale has a floor of a tenth of the column's mean: a column that varies by less than
        # that (u_n, a norm after LayerNorm, sits near 1 ± 1 %) carries little per clip, and z-scoring
        # it to unit spread would hand its rounding noise as much say as the informative columns.
        return (u - self.mean) / torch.sqrt(self.var + (self.floor * self.mean) ** 2 + self.eps)


class UncertaintyFusion(nn.Module):
    def __init__(self, num_modalities: int, hidden: int, num_classes: int, enabled: bool,
                 perturb_std: float, perturb_seed: int, lambda_cal: float, temperature: float = 1.0,
                 ambiguity_reads: str = "ambiguity", u_e: str = "sampled", footing: str = "raw"):
        super().__init__()
        self.enabled = enabled
        self.perturb_std = perturb_std
        self.lambda_cal = lambda_cal
        self.temperature = temperature
        self.ambiguity_reads = ambiguity_reads
        self.u_e = u_e
        self.norm = PerModalityLayerNorm(num_modalities, hidden)
        if enabled:
            self.probe = PerModalityLinear(num_modalities, hidden, num_classes)
            self.gate = PerModalityLinear(num_modalities, 2, hidden)
            if u_e == "sampled":
                generator = torch.Generator().manual_seed(perturb_seed)
                self.register_buffer("eval_noise", torch.randn(num_modalities, hidden, generator=generator) * perturb_std)
            self.footing = RunningStandardizer(NUM_UNCERTAINTIES) if footing == "standardized" else None

    def q(self, r: torch.Tensor) -> torch.Tensor:
        """The probe's class distribution, (B, M, d) -> (B, M, C)."""
        return torch.softmax(self.probe(r), dim=-1)

    def _u_e(self, r: torch.Tensor) -> torch.Tensor:
        """u_e (B, M) of r = r_e + r_a (B, M, d)."""
        if self.u_e == "expected":
            return expected_perturbation_kl(self.probe(r), self.probe.weight, self.perturb_std)
        noise = torch.randn_like(r) * self.perturb_std if self.training else self.eval_noise
        return kl_divergence(self.q(r), self.q(r + noise))

    def uncertainties(self, factors: torch.Tensor) -> torch.Tensor:
        """Raw u (B, M, 4) in factor order (e, c, a, n), each ≥ 0 in its own unit."""
        r_e, r_c, r_a, r_n = factors.unbind(2)
        return torch.stack(
            [
                self._u_e(r_e + r_a),
                kl_divergence(self.q(r_e), self.q(r_e + r_c)),
                entropy(self.q(r_a if self.ambiguity_reads == "ambiguity" else r_e)),
                r_n.norm(dim=-1) / math.sqrt(r_n.shape[-1]),
            ],
            dim=-1,
        )

    def scores(self, u: torch.Tensor, factors: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """The scores ũ (B, M, 4) the weights read: u on its footing, plus the calibration of eq. 15."""
        footed = self.footing(u, present) if self.footing is not None else u
        direction = F.normalize(factors[:, :, 2], dim=-1)  # r_a's direction (B, M, d)
        cos = torch.einsum("bmd,bnd->bmn", direction, direction)  # (B, M, M)
        others = present.unsqueeze(1) & ~torch.eye(present.shape[1], dtype=torch.bool, device=present.device)
        calibration = (cos * others).sum(-1, keepdim=True)  # (B, M, 1): Σ over other present modalities
        return (footed + self.lambda_cal * calibration) * present.unsqueeze(-1)

    def forward(self, factors: torch.Tensor, h_hat: torch.Tensor, present: torch.Tensor) -> FusionInputs:
        """factors (B, M, 4, d), ĥ (B, M, d), present (B, M) -> per-modality outputs and weights."""
        r_e, r_c, r_a, _ = factors.unbind(2)
        mask = present.unsqueeze(-1)  # (B, M, 1)
        if self.enabled:
            u = self.uncertainties(factors) * mask
            score = self.scores(u, factors, present)
            alpha = torch.softmax(-score / self.temperature, dim=-1)  # eq. 13, over the 4 factors
            gate = torch.sigmoid(self.gate(score[..., 1:3]))  # eq. 14, from (ũ_c, ũ_a): (B, M, d)
            modality_weights = masked_softmax(-score.mean(-1) / self.temperature, present)  # (B, M)
            weighted = (alpha.unsqueeze(-1) * factors).sum(2)  # r̂_w (B, M, d)
            combined = weighted + r_e + gate * (r_c + r_a)  # r̂_w + r̂_g
        else:  # no USF: the four factors in equal shares, no gate (each factor once, not r_e, r_c, r_a 1.25 and r_n .25)
            u = score = factors.new_zeros(factors.shape[:3])
            alpha = torch.full_like(u, 0.25)
            modality_weights = present.to(factors.dtype) / present.sum(1, keepdim=True).clamp(min=1)
            weighted = combined = factors.mean(2)
        z = torch.where(mask, self.norm(combined + h_hat), torch.zeros_like(h_hat))
        return FusionInputs(z, alpha * mask, modality_weights, u, weighted, score)

    def flag_loss(self, fused: FusionInputs, present: torch.Tensor, corrupted: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy of each present modality's mean score ũ (the logit of "corrupted"; the
        modality weights are softmax(−mean ũ/τ)) against what training-time perturbation corrupted (B, M)."""
        logit = fused.scores.mean(-1)  # (B, M)
        return masked_mean(F.binary_cross_entropy_with_logits(logit, corrupted.to(logit.dtype), reduction="none"), present)

    def trust_loss(self, fused: FusionInputs, present: torch.Tensor, errors: torch.Tensor) -> torch.Tensor:
        """Gaussian negative log-likelihood of each present modality's own error e (B, M) (a target:
        detached here) with variance exp(s + b), s = mean ũ/τ the score the modality weights read
        (w = softmax(−s)) and b the batch's best offset (closed form, detached; w does not depend on
        it). Its optimum is s = log E[e² | the clip], so w ∝ 1 / E[e²]: inverse-variance weights."""
        errors = errors.detach()
        s = fused.scores.mean(-1) / self.temperature  # (B, M)
        offset = torch.log(masked_mean(errors**2 * torch.exp(-s.detach()), present).clamp(min=1e-12))
        return masked_mean(0.5 * (errors**2 * torch.exp(-(s + offset)) + s + offset), present)

    def loss(self, fused: FusionInputs, factors: torch.Tensor, present: torch.Tensor, classes: torch.Tensor,
             gamma_u: float, w_probe: float, probe_moves_backbone: bool) -> dict[str, torch.Tensor]:
        """`L_USF` (eq. 17) with its parts by name, plus the probe's cross-entropy on the sentiment
        classes (B,) from r_e, weighted by `w_probe` (0: the paper, whose probe is untrained)."""
        r_e = factors[:, :, 0]
        kl = masked_mean(kl_divergence(self.q(fused.weighted_factors), self.q(r_e)), present)
        ent = masked_mean(entropy(self.q(fused.z)), present)
        logits = self.probe(r_e if probe_moves_backbone else r_e.detach())  # (B, M, C)
        probe = masked_mean(F.cross_entropy(logits.transpose(1, 2), classes[:, None].expand(-1, logits.shape[1]), reduction="none"), present)
        return {"usf_kl": kl, "usf_ent": ent, "usf_probe": probe, "usf": kl - gamma_u * ent + w_probe * probe}
