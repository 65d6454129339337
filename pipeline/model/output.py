"""What every sentiment model's forward pass returns (DSRF and the baselines alike).

The training loop, evaluation and predict read only these fields; a model's own explanation
(DSRF's factor and modality weights, routing, uncertainty) lives in a subclass.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(kw_only=True)
class ModelOutput:
    prediction: torch.Tensor  # (B,) score, or class index for classification
    logits: torch.Tensor | None = None  # (B, C) for classification
    expected_error: torch.Tensor | None = None  # (B,) a model's own estimate of |y − prediction|, where it has one
    losses: dict[str, torch.Tensor] = field(default_factory=dict)  # every term by name when labels are given, "total" included

    @property
    def loss(self) -> torch.Tensor:
        return self.losses["total"]
