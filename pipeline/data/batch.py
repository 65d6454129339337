"""A batch as the model takes it: the contract between the tensor store and training."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Batch:
    inputs: dict[str, torch.Tensor]  # m -> (B, T_m, d_m), zero-padded
    lengths: dict[str, torch.Tensor]  # m -> (B,) valid steps; 0 where the modality is missing
    present: torch.Tensor  # (B, M) bool, in the order of the store's modalities
    labels: torch.Tensor  # (B,) sentiment scores
    ids: list[str] = field(default_factory=list)  # clip ids, "<video_id>/<clip_id>"
    tokens: torch.Tensor | None = None  # (B, T_t) int64 input ids of the text rows, where the store has them
    index: torch.Tensor | None = None  # (B,) int64 positions of the clips in their split (Self-MM keeps state per clip)
    corrupted: torch.Tensor | None = None  # (B, M) bool: the modalities training-time perturbation noised or swapped

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(
            {m: x.to(device, non_blocking=True) for m, x in self.inputs.items()},
            {m: n.to(device, non_blocking=True) for m, n in self.lengths.items()},
            self.present.to(device, non_blocking=True),
            self.labels.to(device, non_blocking=True),
            self.ids,
            None if self.tokens is None else self.tokens.to(device, non_blocking=True),
            None if self.index is None else self.index.to(device, non_blocking=True),
            None if self.corrupted is None else self.corrupted.to(device, non_blocking=True),
        )

    def __len__(self) -> int:
        return len(self.labels)
