"""The text encoder inside DSRF, fine-tuned with it (params.yaml `train.finetune_text`).

Frozen (the default), the store holds the encoder's last hidden states and the loader z-scores
them with the train statistics. Fine-tuned, the model computes those states itself from the
stored input ids, with the same encoder weights and the same statistics, so at step 0 it sees the
features the store holds. Exactly so for clips within `tensors.max_len.t`: the features stage ran
the encoder over the whole transcript before the store kept the first rows, while here the
encoder reads only the kept tokens (MMSA's fine-tuning truncates the same way).

docs/model.md §9 describes this option; the model of §2–§8 takes frozen features. The paper
fine-tunes BERT but gives no learning rate for it (`train.text_lr` sets it).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


def without_pooler(encoder: nn.Module) -> nn.Module:
    """The encoder without its pooler: only token states are used, and DDP refuses parameters that
    never get a gradient."""
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None
    return encoder


class TextBackbone(nn.Module):
    """Input ids (B, T) and lengths (B,) -> normalized token states (B, T, d), zero after each length."""

    def __init__(self, encoder: nn.Module, mean: list[float] | None = None, std: list[float] | None = None):
        super().__init__()
        self.encoder = without_pooler(encoder)
        dim = encoder.config.hidden_size
        # The store's train statistics; none (text not normalized) is the identity.
        self.register_buffer("mean", torch.tensor(mean if mean is not None else [0.0] * dim, dtype=torch.float32))  # (d,)
        self.register_buffer("std", torch.tensor(std if std is not None else [1.0] * dim, dtype=torch.float32))  # (d,)

    @classmethod
    def pretrained(cls, folder: str, mean: list[float] | None, std: list[float] | None) -> "TextBackbone":
        """The features' own encoder (a local folder: resolved offline by the caller)."""
        from transformers import AutoModel
        from transformers.utils import logging

        logging.disable_progress_bar()  # a "Loading weights" bar per seed says nothing
        return cls(AutoModel.from_pretrained(folder), mean, std)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TextBackbone":
        """The architecture alone (weights and statistics come from a checkpoint's state dict): no download."""
        from transformers import AutoConfig, AutoModel

        fields = dict(config)
        return cls(AutoModel.from_config(AutoConfig.for_model(fields.pop("model_type"), **fields)))

    def config_dict(self) -> dict[str, Any]:
        return self.encoder.config.to_dict()

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        steps = tokens.shape[1]
        # A clip without text has length 0: attend to one (padding) token so no row is all-masked;
        # DSRF zeroes a missing modality's input anyway.
        valid = torch.arange(steps, device=tokens.device)[None, :] < lengths.clamp(min=1)[:, None]  # (B, T)
        states = self.encoder(input_ids=tokens, attention_mask=valid.long()).last_hidden_state  # (B, T, d)
        x = (states - self.mean) / self.std
        return x * valid.unsqueeze(-1)
