"""The floor: DSRF's modality encoders, their last-step outputs concatenated into an MLP head.

Nothing between encoding and the head (no factors, routing or uncertainty), so what DSRF's own
modules add is measured against it under the same encoders, data and protocol. A missing modality
contributes zeros to the concatenation. It has no settings of its own (`model.concat: {}`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import SentimentModel
from .config import ModelConfig
from .fusion import FusionHead
from .output import ModelOutput
from .text_backbone import TextBackbone


@dataclass(frozen=True)
class ConcatConfig:
    """params.yaml `model.concat:` (none: the floor is the shared settings alone)."""


class Concat(SentimentModel):
    def __init__(self, config: ModelConfig, own: ConcatConfig = ConcatConfig(), text_backbone: TextBackbone | None = None):
        super().__init__(config, own, text_backbone)
        c = config
        self.encoders = self.modality_encoders()
        self.head = FusionHead("concat", len(c.modalities), c.hidden, c.heads, self.outputs, c.dropout)

    def forward(self, inputs, lengths, present=None, labels=None, tokens=None, index=None, corrupted=None) -> ModelOutput:
        inputs, present = self.read_inputs(inputs, lengths, present, tokens)
        h = torch.stack([self.encoders[m](inputs[m], lengths[m])[0] for m in self.config.modalities], 1)  # (B, M, d)
        return self.result(self.head(torch.where(present.unsqueeze(-1), h, 0.0), present), labels)
