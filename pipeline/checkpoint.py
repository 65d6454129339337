"""Checkpoints: the model's weights with everything needed to use it again.

A checkpoint carries the model and loss configs, the store's manifest (feature extractors and
their settings, normalization statistics, label scale), the training settings and the seed, so
`pipeline predict` rebuilds exactly the model and the features it was trained on.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from .files import atomic_write
from .model import ModelConfig, SentimentModel, TextBackbone, build_model
from .model.config import as_recorded
from .model.registry import own_as_dict, own_from_dict


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """torch.save, atomically: a killed run never leaves half a checkpoint."""
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # a truncated or foreign file: say which, not how pickle failed
        raise ValueError(f"{path}: not a readable checkpoint ({type(error).__name__})") from None


def model_payload(model: SentimentModel) -> dict[str, Any]:
    """The part of a checkpoint that rebuilds the model."""
    return {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "model_config": dataclasses.asdict(model.config),  # its `name` says which model
        "own_config": own_as_dict(model),  # the model's own settings (DSRF: its loss weights)
        # The fine-tuned text encoder's architecture; its weights are in "model".
        "text_backbone": model.text_backbone.config_dict() if model.text_backbone is not None else None,
    }


def model_from_checkpoint(payload: dict[str, Any]) -> SentimentModel:
    config = payload["model_config"]
    config = ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in as_recorded(ModelConfig, config).items()})
    own = own_from_dict(config.name, payload["own_config"] if "own_config" in payload else payload["loss_config"])  # older: DSRF only
    backbone = payload.get("text_backbone")
    model = build_model(config, own, TextBackbone.from_config(backbone) if backbone else None)
    model.load_state_dict(payload["model"])
    return model.eval()
