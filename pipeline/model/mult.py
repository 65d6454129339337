"""Multimodal Transformer, MulT (Tsai et al., ACL 2019), in this pipeline's harness.

Each modality's sequence is projected to width d by a temporal convolution and given sinusoidal
positions. For every ordered pair (source β → target α) a cross-modal transformer lets the target's
steps attend to the source's (queries from α, keys and values from β; pre-norm layers: attention
then a feed-forward block, each residual), so unaligned sequences of any lengths interact. A
target's cross-modal streams are concatenated along the features (width (M−1)·d) and a
self-attention transformer runs over them; the output at the target's last valid step is its
summary. The summaries of all targets, concatenated, go through a two-layer MLP with a residual
connection to the task output.

Choices where the paper leaves them open or does not fit this harness:
- width d = `model.hidden`, heads = `model.heads`, dropout = `model.dropout`; the cross-modal and
  self-attention depths are `cross_layers` and `self_layers` (2 each: the paper used 4-5 layers of
  width 30 on MOSI; fewer, wider layers match DSRF's encoders and the CPUs this is tested on);
- the projection's kernel is `kernel` (1: the paper's released MOSI setting; the convolution is
  still "temporal", its width a param);
- "last element" is read as the last *valid* step, since clips here are padded to a batch length;
- one modality alone has no pair: its projected sequence goes straight to its self-attention;
- a missing source modality gives its pair no cross-modal information: the pair's stream is the
  target's own projected sequence for that clip; a missing target contributes a zero summary;
  attention never sees an all-masked row (a missing sequence keeps one zero step as a key).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import SentimentModel
from .config import ModelConfig
from .layers import sinusoidal_positions
from .output import ModelOutput
from .text_backbone import TextBackbone


@dataclass(frozen=True)
class MulTConfig:
    """params.yaml `model.mult:`."""

    cross_layers: int = 2
    self_layers: int = 2
    kernel: int = 1  # width of the temporal convolution that projects each modality to d


class CrossModalLayer(nn.Module):
    """Pre-norm: target steps attend to source steps, then a feed-forward block; both residual."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.norm_query, self.norm_source, self.norm_ff = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(4 * dim, dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, target: torch.Tensor, source: torch.Tensor, source_padding: torch.Tensor) -> torch.Tensor:
        """target (B, T_α, d), source (B, T_β, d), source_padding (B, T_β) True where padded."""
        source = self.norm_source(source)
        attended, _ = self.attention(self.norm_query(target), source, source, key_padding_mask=source_padding, need_weights=False)
        target = target + self.dropout(attended)
        return target + self.dropout(self.ff(self.norm_ff(target)))


class MulT(SentimentModel):
    def __init__(self, config: ModelConfig, own: MulTConfig = MulTConfig(), text_backbone: TextBackbone | None = None):
        super().__init__(config, own, text_backbone)
        c = config
        d = c.hidden
        self.project = nn.ModuleDict({m: nn.Conv1d(c.input_dims[m], d, own.kernel, padding=own.kernel // 2, bias=False)
                                      for m in c.modalities})
        self.pairs = [(source, target) for target in c.modalities for source in c.modalities if source != target]
        self.cross = nn.ModuleDict({f"{s}_to_{t}": nn.ModuleList(CrossModalLayer(d, c.heads, c.dropout) for _ in range(own.cross_layers))
                                    for s, t in self.pairs})
        width = d * max(1, len(c.modalities) - 1)  # (M−1)·d: a target's cross-modal streams side by side
        layer = nn.TransformerEncoderLayer(width, c.heads, 4 * width, c.dropout, batch_first=True, norm_first=True)
        self.self_attention = nn.ModuleDict({m: nn.TransformerEncoder(layer, own.self_layers, enable_nested_tensor=False)
                                             for m in c.modalities})
        total = width * len(c.modalities)
        self.residual = nn.Sequential(nn.Linear(total, total), nn.ReLU(), nn.Dropout(c.dropout), nn.Linear(total, total))
        self.head = nn.Linear(total, self.outputs)

    def forward(self, inputs, lengths, present=None, labels=None, tokens=None, index=None, corrupted=None) -> ModelOutput:
        inputs, present = self.read_inputs(inputs, lengths, present, tokens)
        c = self.config
        column = {m: i for i, m in enumerate(c.modalities)}
        projected, padding, steps = {}, {}, {}
        for m in c.modalities:
            x = self.project[m](inputs[m].transpose(1, 2)).transpose(1, 2)  # (B, T_m, d)
            projected[m] = x + sinusoidal_positions(x.shape[1], x.shape[2], x.device)
            steps[m] = lengths[m].clamp(min=1, max=x.shape[1])  # a missing sequence keeps one (zero) step
            padding[m] = torch.arange(x.shape[1], device=x.device)[None, :] >= steps[m][:, None]  # (B, T_m)
        summaries = []
        for target in c.modalities:
            streams = []
            for source in (s for s, t in self.pairs if t == target):
                z = projected[target]
                for layer in self.cross[f"{source}_to_{target}"]:
                    z = layer(z, projected[source], padding[source])
                streams.append(torch.where(present[:, column[source], None, None], z, projected[target]))  # (B, T_α, d)
            stream = torch.cat(streams, dim=-1) if streams else projected[target]  # (B, T_α, (M−1)·d)
            stream = self.self_attention[target](stream, src_key_padding_mask=padding[target])
            last = stream[torch.arange(stream.shape[0], device=stream.device), steps[target] - 1]  # (B, (M−1)·d)
            summaries.append(torch.where(present[:, column[target], None], last, 0.0))
        fused = torch.cat(summaries, dim=-1)  # (B, M·(M−1)·d)
        return self.result(self.head(fused + self.residual(fused)), labels)
