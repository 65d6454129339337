"""Self-MM, self-supervised unimodal labels for multi-task learning (Yu et al., AAAI 2021), in this harness.

Besides the multimodal task, each modality s has a subtask: a head on its own representation F^s
predicts a unimodal label y_s that no dataset provides. The label generation module (ULGM) makes
them from the multimodal label y_m and the distances to class centres:

- the centres of the positive and negative clips (y_m > 0, y_m < 0) in each representation space
  (every modality's F^s and the fused F^m), over a memory of the latest representation of every
  training clip seen so far;
- for a clip, `α = (D_n − D_p) / (D_p + ε)` from its squared distances to those centres, per space;
- `ŷ_s = y_m + (α_s − α_m) / 2 · (y_m / α_m + 1)`, the mean of the paper's ratio and difference rules;
- momentum across updates: the i-th time a clip is seen, `y_s ← (i−1)/(i+1) · y_s + 2/(i+1) · ŷ_s`
  (the first time, y_s = y_m).

Loss: task + Σ_s mean(tanh(|y_s − y_m|) · |ŷ_s_pred − y_s|) (`unimodal`), the subtasks weighted by
how far their labels moved; `gap_<s>` logs the mean |y_s − y_m| of the batch (weight 0).

Choices where the paper leaves them open or does not fit this harness:
- F^s comes from DSRF's modality encoder (the paper: BERT for text, LSTMs for audio and vision)
  followed by a linear layer and ReLU of width `text_dim` / `audio_dim` / `vision_dim` (64 / 16 / 32)
  and F^m from the concatenated encoder outputs, width `fusion_dim` (128), the authors' MOSI sizes;
- the per-clip state (memory, labels, update counts) is a set of buffers sized by the training
  split (`train_size`, taken from the store) and indexed by the clip's position in it; it is updated
  in training only, and under DDP from every rank's clips (gathered), so all ranks hold the same;
- the ε of α is 1e-8 and the generated labels are clipped to the dataset's range;
- the unimodal subtasks are regressions on scores also when the main task is classification;
- a missing modality has no subtask term, no memory update and no label update for that clip.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from .base import SentimentModel
from .config import ModelConfig
from .output import ModelOutput
from .text_backbone import TextBackbone

EPS = 1e-8


@dataclass(frozen=True)
class SelfMMConfig:
    """params.yaml `model.self_mm:`."""

    text_dim: int = 64
    audio_dim: int = 16
    vision_dim: int = 32
    fusion_dim: int = 128
    train_size: int = 0  # clips in the training split: filled from the store when 0


def gather(t: torch.Tensor) -> torch.Tensor:
    """Every rank's `t` concatenated along dim 0 (the same on all ranks); `t` itself without DDP."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return t
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)


class SelfMM(SentimentModel):
    def __init__(self, config: ModelConfig, own: SelfMMConfig = SelfMMConfig(), text_backbone: TextBackbone | None = None):
        super().__init__(config, own, text_backbone)
        c = config
        dims = {"t": own.text_dim, "a": own.audio_dim, "v": own.vision_dim}
        self.encoders = self.modality_encoders()
        self.unimodal = nn.ModuleDict({m: nn.Sequential(nn.Dropout(c.dropout), nn.Linear(c.hidden, dims[m]), nn.ReLU()) for m in c.modalities})
        self.unimodal_heads = nn.ModuleDict({m: nn.Linear(dims[m], 1) for m in c.modalities})
        self.fusion = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(len(c.modalities) * c.hidden, own.fusion_dim), nn.ReLU())
        self.head = nn.Linear(own.fusion_dim, self.outputs)
        size = max(own.train_size, 1)
        for m in c.modalities:
            self.register_buffer(f"memory_{m}", torch.zeros(size, dims[m]))
        self.register_buffer("memory_fusion", torch.zeros(size, own.fusion_dim))
        self.register_buffer("seen", torch.zeros(size, len(c.modalities) + 1, dtype=torch.bool))  # per space; the last: fusion
        self.register_buffer("label_m", torch.zeros(size))
        self.register_buffer("label_s", torch.zeros(size, len(c.modalities)))
        self.register_buffer("updates", torch.zeros(size, dtype=torch.long))
        self.bound = 1.0 if c.class_edges else float(c.num_classes // 2)  # the label range: [-1, 1] SIMS, [-3, 3] MOSI

    def forward(self, inputs, lengths, present=None, labels=None, tokens=None, index=None, corrupted=None) -> ModelOutput:
        inputs, present = self.read_inputs(inputs, lengths, present, tokens)
        c = self.config
        h = torch.stack([self.encoders[m](inputs[m], lengths[m])[0] for m in c.modalities], 1)  # (B, M, d)
        h = torch.where(present.unsqueeze(-1), h, 0.0)
        features = [self.unimodal[m](h[:, i]) for i, m in enumerate(c.modalities)]  # each (B, d_s)
        fused = self.fusion(h.flatten(1))  # (B, fusion_dim)
        output = self.head(fused)
        if labels is None:
            return self.result(output, None)
        y_m = labels.to(output.dtype)
        targets = y_m[:, None].expand(-1, len(c.modalities))  # (B, M): before a clip's first update, y_s = y_m
        if index is not None:
            targets = torch.where((self.updates[index] > 0)[:, None], self.label_s[index], targets)
        if self.training and index is not None:
            if self.own.train_size < 1:
                raise ValueError("model.self_mm.train_size: the training split's size is needed for the per-clip labels")
            with torch.no_grad():  # after the loss's labels are read, as the paper's training loop does
                self._update(index, [f.detach() for f in features], fused.detach(), y_m, present)
        predicted = torch.stack([self.unimodal_heads[m](f).squeeze(-1) for m, f in zip(c.modalities, features)], 1)  # (B, M)
        weight = torch.tanh((targets - y_m[:, None]).abs()) * present  # (B, M)
        unimodal = (weight * (predicted - targets).abs()).sum(1).mean()
        gaps = {f"gap_{m}": (0.0, ((targets[:, i] - y_m).abs() * present[:, i]).sum() / present[:, i].sum().clamp(min=1))
                for i, m in enumerate(c.modalities)}
        return self.result(output, labels, {"unimodal": (1.0, unimodal), **gaps})

    def _update(self, index: torch.Tensor, features: list[torch.Tensor], fused: torch.Tensor, y_m: torch.Tensor,
                present: torch.Tensor) -> None:
        """ULGM: store this batch's representations, then generate and momentum-update its clips' labels."""
        index, y_m, present = gather(index), gather(y_m), gather(present.to(torch.uint8)).bool()
        features, fused = [gather(f) for f in features], gather(fused)
        spaces = [*features, fused]  # the last is the fused space
        kept = torch.cat([present, torch.ones_like(present[:, :1])], 1)  # (B, M + 1)
        for s, values in enumerate(spaces):
            memory = getattr(self, f"memory_{self.config.modalities[s]}") if s < len(features) else self.memory_fusion
            memory[index] = torch.where(kept[:, s, None], values, memory[index])
        self.seen[index] |= kept
        self.label_m[index] = y_m
        alpha = torch.stack([self._alpha(s, values) for s, values in enumerate(spaces)], 1)  # (B, M + 1)
        alpha_s, alpha_m = alpha[:, :-1], alpha[:, -1:]
        safe_m = torch.where(alpha_m.abs() < EPS, torch.full_like(alpha_m, EPS), alpha_m)
        generated = (y_m[:, None] + (alpha_s - alpha_m) / 2 * (y_m[:, None] / safe_m + 1)).clamp(-self.bound, self.bound)
        count = self.updates[index] + 1  # (B,)
        self.updates[index] = count
        i = count[:, None].to(y_m.dtype)
        moved = (i - 1) / (i + 1) * self.label_s[index] + 2 / (i + 1) * generated
        first = (count == 1)[:, None]
        self.label_s[index] = torch.where(present, torch.where(first, y_m[:, None].expand_as(moved), moved), self.label_s[index])

    def _alpha(self, space: int, values: torch.Tensor) -> torch.Tensor:
        """(D_n − D_p) / (D_p + ε) of each clip (B,) against the memory's class centres in one space."""
        memory = getattr(self, f"memory_{self.config.modalities[space]}") if space < len(self.config.modalities) else self.memory_fusion
        seen = self.seen[:, space]
        positive, negative = (seen & (self.label_m > 0)).to(values.dtype), (seen & (self.label_m < 0)).to(values.dtype)
        centre_p = (memory * positive[:, None]).sum(0) / positive.sum().clamp(min=1)
        centre_n = (memory * negative[:, None]).sum(0) / negative.sum().clamp(min=1)
        d_p, d_n = (values - centre_p).pow(2).sum(-1), (values - centre_n).pow(2).sum(-1)
        return (d_n - d_p) / (d_p + EPS)
