"""The text encoder inside DSRF, fine-tuned with it (params.yaml `train.finetune_text`).

Frozen (the default), the store holds the encoder's last hidden states and the loader z-scores
them with the train statistics. Fine-tuned, the model computes those states itself from the
stored input ids, with the same encoder weights and the same statistics, so at step 0 it sees the
features the store holds. Exactly so for clips within `tensors.max_len.t`: the features stage ran
the encoder over the whole transcript before the store kept the first rows, while here the
encoder reads only the kept tokens (MMSA's fine-tuning truncates the same way).

With `top` k > 0 (params.yaml `train.tune_text_layers`) only the encoder's top k layers train: the
features stage stored the states below them (`features.text.top_layers`), so each step runs k layers
instead of the whole encoder, and at step 0 the output is again exactly the stored features. Given
input ids instead (`pipeline predict`), the whole encoder runs, its lower layers as they were.

docs/model.md §9 describes this option; the model of §2–§8 takes frozen features. The paper
fine-tunes BERT but gives no learning rate for it (`train.text_lr` sets it).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

TOP = "dsrf_top_layers"  # in a checkpoint's encoder config: how many top layers were tuned


def without_pooler(encoder: nn.Module) -> nn.Module:
    """The encoder without its pooler: only token states are used, and DDP refuses parameters that
    never get a gradient."""
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None
    return encoder


def top_layers(encoder: nn.Module, k: int) -> nn.ModuleList:
    """The top k layers of a BERT-like or MPNet encoder (`encoder.encoder.layer`)."""
    layers = encoder.encoder.layer
    if not 0 < k <= len(layers):
        raise ValueError(f"train.tune_text_layers: {k} is not between 1 and the encoder's {len(layers)} layers")
    return layers[len(layers) - k:]


def run_top_layers(encoder: nn.Module, states: torch.Tensor, valid: torch.Tensor, k: int) -> torch.Tensor:
    """The encoder's top k layers on the states below them (B, T, d), attending to `valid` (B, T) -> (B, T, d).

    The mask is built as the model's own forward builds it; MPNet's layers also take the relative
    position bias its encoder computes from the sequence length."""
    from transformers.masking_utils import create_bidirectional_mask

    mask = create_bidirectional_mask(config=encoder.config, inputs_embeds=states, attention_mask=valid.long())
    bias = getattr(encoder.encoder, "compute_position_bias", None)
    extra = (bias(states),) if bias is not None else ()
    for layer in top_layers(encoder, k):
        out = layer(states, mask, *extra)
        states = out[0] if isinstance(out, tuple) else out  # MPNet's layers return a tuple, BERT's a tensor
    return states


class TextBackbone(nn.Module):
    """Input ids (B, T), or with `top` k the states below the top k layers (B, T, d), and lengths (B,)
    -> normalized token states (B, T, d), zero after each length."""

    def __init__(self, encoder: nn.Module, mean: list[float] | None = None, std: list[float] | None = None, top: int = 0):
        super().__init__()
        self.encoder = without_pooler(encoder)
        self.top = top
        if top:  # only the top k layers learn (the stored states below them would not follow the others)
            encoder.requires_grad_(False)
            top_layers(encoder, top).requires_grad_(True)
        dim = encoder.config.hidden_size
        # The store's train statistics; none (text not normalized) is the identity.
        self.register_buffer("mean", torch.tensor(mean if mean is not None else [0.0] * dim, dtype=torch.float32))  # (d,)
        self.register_buffer("std", torch.tensor(std if std is not None else [1.0] * dim, dtype=torch.float32))  # (d,)

    @classmethod
    def pretrained(cls, folder: str, mean: list[float] | None, std: list[float] | None, top: int = 0) -> "TextBackbone":
        """The features' own encoder (a local folder: resolved offline by the caller)."""
        from transformers import AutoModel
        from transformers.utils import logging

        logging.disable_progress_bar()  # a "Loading weights" bar per seed says nothing
        return cls(AutoModel.from_pretrained(folder), mean, std, top)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TextBackbone":
        """The architecture alone (weights and statistics come from a checkpoint's state dict): no download."""
        from transformers import AutoConfig, AutoModel

        fields = dict(config)
        top = fields.pop(TOP, 0)
        return cls(AutoModel.from_config(AutoConfig.for_model(fields.pop("model_type"), **fields)), top=top)

    def config_dict(self) -> dict[str, Any]:
        return self.encoder.config.to_dict() | ({TOP: self.top} if self.top else {})

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        steps = tokens.shape[1]
        # A clip without text has length 0: attend to one (padding) token so no row is all-masked;
        # DSRF zeroes a missing modality's input anyway.
        valid = torch.arange(steps, device=tokens.device)[None, :] < lengths.clamp(min=1)[:, None]  # (B, T)
        if tokens.is_floating_point():  # the states below the top layers (B, T, d)
            states = run_top_layers(self.encoder, tokens, valid, self.top)
        else:
            states = self.encoder(input_ids=tokens, attention_mask=valid.long()).last_hidden_state  # (B, T, d)
        x = (states - self.mean) / self.std
        return x * valid.unsqueeze(-1)
