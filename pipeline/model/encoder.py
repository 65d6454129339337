"""Modality preprocessing (docs/model.md §2, paper §3.3).

`C = Conv1d(d_m -> d, kernel 3)(X) + PE`, then a Transformer encoder with a key padding mask.
The paper's "3×3" convolution is read as a kernel of width 3 over time.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import sinusoidal_positions


class ModalityEncoder(nn.Module):
    """One modality's sequence (B, T, d_m) -> H (B, d) at the last valid step, S (B, d) masked mean."""

    def __init__(self, input_dim: int, hidden: int, layers: int, heads: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(input_dim, hidden, kernel_size=3, padding=1)
        layer = nn.TransformerEncoderLayer(hidden, heads, dim_feedforward=4 * hidden, dropout=dropout, batch_first=True)
        # No nested-tensor fast path: it drops padded positions in eval only, and train and eval
        # should compute the same function.
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, steps, _ = x.shape
        # A missing modality has length 0; attend to step 0 (zeros) so no row is all-masked (NaN).
        lengths = lengths.clamp(min=1, max=steps)
        valid = torch.arange(steps, device=x.device)[None, :] < lengths[:, None]  # (B, T)
        c = self.conv(x.transpose(1, 2)).transpose(1, 2)  # (B, T, d)
        c = c + sinusoidal_positions(steps, c.shape[-1], x.device)
        out = self.transformer(c, src_key_padding_mask=~valid)  # (B, T, d)
        last = out[torch.arange(batch, device=x.device), lengths - 1]  # (B, d)
        weights = valid.unsqueeze(-1).to(out.dtype)  # (B, T, 1)
        mean = (out * weights).sum(1) / weights.sum(1)  # (B, d)
        return last, mean
