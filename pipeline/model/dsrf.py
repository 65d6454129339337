"""DSRF, the Dynamic Semantic Routing Framework, as docs/model.md describes it.

    X^m --encoder--> H^m --HSF--> 4 factors --DRI--> ĥ^m
                                      └──────USF──────┴─> z^m, w^m --fusion--> prediction

Each stage lives in its own module (encoder, hsf, dri, usf, fusion), where the deviations from
the paper's letter are named. Modalities are stacked on one axis M after the encoders, so HSF,
DRI and USF each run as a few batched ops over all modalities.

Missing modalities (docs/model.md §7): a per-sample presence mask (B, M), by default
`lengths > 0`. A missing modality's input is replaced by zeros before anything reads it, its
outputs are zeroed, it is left out of every loss, of the other modalities' context and
calibration, and its modality weight is 0, so its input can be anything.

With a `TextBackbone` (train.finetune_text), the text input is computed from token ids inside
the model (text_backbone.py), so the text encoder trains with the rest.

Deviations beyond those of the submodules:
- `task: classification` returns the score its arg-max class stands for as `prediction` (the logits as `logits`);
- with `use_dri: false` the reported routing is the uniform 1/K (what routing with no update is).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import SentimentModel
from .confidence import ExpectedErrorHead, laplace_nll
from .config import LossConfig, ModelConfig
from .dri import NUM_FACTORS, DynamicRouting
from .fusion import FusionHead
from .hsf import HierarchicalFactorization
from .layers import masked_mean
from .losses import sentiment_classes
from .output import ModelOutput
from .text_backbone import TextBackbone
from .usf import NUM_UNCERTAINTIES, FusionInputs, UncertaintyFusion


@dataclass(kw_only=True)
class DSRFOutput(ModelOutput):
    """The common output plus DSRF's explanation."""

    factor_weights: torch.Tensor  # α (B, M, 4): emotion, context, ambiguity, noise
    modality_weights: torch.Tensor  # w (B, M)
    routing: torch.Tensor  # coupling c of the last routing iteration (B, M, 4, K)
    uncertainty: torch.Tensor  # raw u (B, M, 4), each ≥ 0 in its own unit


class DSRF(SentimentModel):
    def __init__(self, config: ModelConfig, loss: LossConfig | None = None, text_backbone: TextBackbone | None = None):
        super().__init__(config, loss or LossConfig(), text_backbone)
        c = config
        num_m = len(c.modalities)
        outputs = self.outputs
        self.encoders = self.modality_encoders()
        self.hsf = HierarchicalFactorization(num_m, c.hidden, c.factor_layers, outputs) if c.use_hsf else None
        self.dri = DynamicRouting(num_m, c.hidden, c.capsules, c.routing_iters) if c.use_dri else None
        self.usf = UncertaintyFusion(num_m, c.hidden, c.num_classes, c.use_usf, c.perturb_std, c.perturb_seed, c.lambda_cal,
                                     c.usf_temperature, c.ambiguity_reads, c.u_e, c.usf_footing)
        self.fusion = FusionHead(c.fusion, num_m, c.hidden, c.heads, outputs, c.dropout)
        # Reads the fused tokens, the modality weights and the raw uncertainties.
        self.error_head = ExpectedErrorHead(num_m * (c.hidden + 1 + NUM_UNCERTAINTIES), c.hidden) if c.confidence_head else None

    def forward(
        self,
        inputs: dict[str, torch.Tensor],
        lengths: dict[str, torch.Tensor],
        present: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        tokens: torch.Tensor | None = None,
        index: torch.Tensor | None = None,
        corrupted: torch.Tensor | None = None,
    ) -> DSRFOutput:
        """inputs[m] (B, T_m, d_m), lengths[m] (B,), present (B, M) bool, labels (B,) scores, tokens (B, T_t)
        the text rows' input ids (read only by a model with a text backbone, instead of inputs["t"]);
        `index` (the clips' positions in their split) is not used by DSRF; corrupted (B, M) bool, the
        modalities training-time perturbation noised or swapped, is read by the flag loss (`loss.w_flag`)."""
        c = self.config
        inputs, present = self.read_inputs(inputs, lengths, present, tokens)
        encoded = [self.encoders[m](inputs[m], lengths[m]) for m in c.modalities]
        mask = present.unsqueeze(-1)  # (B, M, 1)
        h = torch.where(mask, torch.stack([last for last, _ in encoded], 1), 0.0)  # H (B, M, d)
        s = torch.stack([mean for _, mean in encoded], 1)  # S (B, M, d)

        factors = self.hsf(h, present) if self.hsf else h.unsqueeze(2).expand(-1, -1, NUM_FACTORS, -1)  # (B, M, 4, d)
        if self.dri:
            h_hat, routing, _ = self.dri(factors)
        else:
            h_hat = factors.mean(2)
            routing = h.new_full((*factors.shape[:3], c.capsules), 1.0 / c.capsules)
        fused = self.usf(factors, h_hat, present)
        tokens = fused.modality_weights.unsqueeze(-1) * fused.z  # (B, M, d)
        output = self.fusion(tokens, present)  # (B, outputs)

        prediction, logits = self.prediction(output)
        expected_error = None
        if self.error_head is not None:
            evidence = torch.cat([tokens, fused.modality_weights.unsqueeze(-1), fused.uncertainty], -1)  # (B, M, d + 1 + 4)
            expected_error = self.error_head(evidence.flatten(1))  # (B,)
        result = DSRFOutput(
            prediction=prediction,
            expected_error=expected_error,
            factor_weights=fused.factor_weights,
            modality_weights=fused.modality_weights,
            routing=routing * present[:, :, None, None],
            uncertainty=fused.uncertainty,
            logits=logits,
        )
        if labels is not None:
            result.losses = self._losses(output, factors, h, h_hat, s, fused, present, labels.to(h.dtype), corrupted)
            if expected_error is not None:
                result.losses["scale"] = laplace_nll(expected_error, prediction, labels.to(h.dtype))
                result.losses["total"] = result.losses["total"] + result.losses["scale"]
        return result

    @property
    def loss_config(self) -> LossConfig:
        return self.own

    def _losses(
        self,
        output: torch.Tensor,
        factors: torch.Tensor,
        h: torch.Tensor,
        h_hat: torch.Tensor,
        s: torch.Tensor,
        fused: FusionInputs,
        present: torch.Tensor,
        labels: torch.Tensor,
        corrupted: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:
        """Every loss term by name and their weighted sum `total` (docs/model.md §6)."""
        c, w = self.config, self.loss_config
        classes = sentiment_classes(labels, c.num_classes, c.class_edges)
        terms = {"task": self.task_loss(output, labels)}
        total = terms["task"]
        if self.hsf:
            errors = self.hsf.unimodal_errors(factors, labels, classes, c.task)  # (B, M): L_emo's, and L_trust's target
            terms |= self.hsf.losses(factors, errors, s, present, classes, w)
            total = total + w.w_hsf * terms["hsf"]
        if self.dri:
            # eq. 12: ĥ reconstructs a frozen H.
            terms["dri"] = masked_mean((h_hat - h.detach()).pow(2).mean(-1), present)
            total = total + w.w_dri * terms["dri"]
        if c.use_usf:
            terms |= self.usf.loss(fused, factors, present, classes, w.gamma_u, w.w_probe, w.probe_moves_backbone)
            total = total + w.w_usf * terms["usf"]
            if w.w_flag > 0 and corrupted is not None:
                terms["flag"] = self.usf.flag_loss(fused, present, corrupted)
                total = total + w.w_flag * terms["flag"]
            if w.w_trust > 0 and self.hsf:
                terms["trust"] = self.usf.trust_loss(fused, present, errors)
                total = total + w.w_trust * terms["trust"]
        terms["total"] = total
        return terms
