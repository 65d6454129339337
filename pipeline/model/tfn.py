"""Tensor Fusion Network (Zadeh et al., EMNLP 2017), in this pipeline's harness.

Per modality an embedding subnetwork gives a vector z^m; the fusion is the outer product of the
1-appended vectors, `[z^t ; 1] ⊗ [z^a ; 1] ⊗ [z^v ; 1]`, which holds every unimodal, bimodal and
trimodal product; a post-fusion MLP maps its flattening to the task output.

Choices where the paper leaves them open or does not fit this harness:
- the subnetworks are DSRF's modality encoders (Conv1d + positions + Transformer, the output at the
  last valid step) followed by a linear map and ReLU to `text_dim` / `audio_dim` / `vision_dim`:
  the paper's LSTM (text) and 3-layer DNNs on averaged frames (audio, vision) are replaced so that
  every model here reads the same sequences with the same encoders;
- sizes: the paper's subnetworks give 128 (text) and 32 (audio, vision) dimensions and its post-fusion
  layers have 128 units; here 32 / 16 / 16 and `post_fusion` 128, so the fused tensor has
  33·17·17 = 9,537 entries instead of 140,481 (the first post-fusion layer 1.2 M weights instead of
  18 M), on the CPUs this project is tested on; the params scale it back up;
- any subset of modalities: the product runs over the configured ones only;
- a missing modality's z^m is 0, so its appended vector is [0 … 0 ; 1] and only the products of the
  present modalities survive — the tensor's own reading of absence;
- dropout `model.dropout` after the fused tensor, as the paper's post-fusion network has.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import SentimentModel
from .config import ModelConfig
from .output import ModelOutput
from .text_backbone import TextBackbone


@dataclass(frozen=True)
class TFNConfig:
    """params.yaml `model.tfn:`."""

    text_dim: int = 32
    audio_dim: int = 16
    vision_dim: int = 16
    post_fusion: int = 128  # units of the two post-fusion layers


class TFN(SentimentModel):
    def __init__(self, config: ModelConfig, own: TFNConfig = TFNConfig(), text_backbone: TextBackbone | None = None):
        super().__init__(config, own, text_backbone)
        c = config
        dims = {"t": own.text_dim, "a": own.audio_dim, "v": own.vision_dim}
        self.encoders = self.modality_encoders()
        self.subnets = nn.ModuleDict({m: nn.Sequential(nn.Linear(c.hidden, dims[m]), nn.ReLU()) for m in c.modalities})
        fused = 1
        for m in c.modalities:
            fused *= dims[m] + 1
        self.post_fusion = nn.Sequential(
            nn.Dropout(c.dropout), nn.Linear(fused, own.post_fusion), nn.ReLU(),
            nn.Linear(own.post_fusion, own.post_fusion), nn.ReLU(), nn.Linear(own.post_fusion, self.outputs),
        )

    def forward(self, inputs, lengths, present=None, labels=None, tokens=None, index=None, corrupted=None) -> ModelOutput:
        inputs, present = self.read_inputs(inputs, lengths, present, tokens)
        fused = None
        for i, m in enumerate(self.config.modalities):
            z = self.subnets[m](self.encoders[m](inputs[m], lengths[m])[0])  # (B, d_m)
            z = torch.where(present[:, i, None], z, 0.0)
            z = torch.cat([z, torch.ones_like(z[:, :1])], dim=-1)  # (B, d_m + 1)
            fused = z if fused is None else torch.einsum("bi,bj->bij", fused, z).flatten(1)  # (B, Π (d_m + 1))
        return self.result(self.post_fusion(fused), labels)  # (B, outputs) -> prediction, losses
