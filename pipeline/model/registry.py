"""Every model the pipeline trains, by the name params.yaml gives it (`model.name`).

Each is a `SentimentModel` built from the shared `ModelConfig` and its own settings, which
params.yaml holds as `model.<name>: {...}` (DSRF's own settings are the `loss:` section). The
checkpoint keeps both, so `evaluate` and `predict` rebuild any of them offline.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from ..params import section_from_params
from .base import SentimentModel
from .concat import Concat, ConcatConfig
from .config import LossConfig, ModelConfig, as_recorded
from .dsrf import DSRF
from .misa import MISA, MISAConfig
from .mult import MulT, MulTConfig
from .self_mm import SelfMM, SelfMMConfig
from .text_backbone import TextBackbone
from .tfn import TFN, TFNConfig

# name -> (model class, its own settings' dataclass)
MODELS: dict[str, tuple[type[SentimentModel], type]] = {
    "dsrf": (DSRF, LossConfig),
    "concat": (Concat, ConcatConfig),
    "tfn": (TFN, TFNConfig),
    "mult": (MulT, MulTConfig),
    "misa": (MISA, MISAConfig),
    "self_mm": (SelfMM, SelfMMConfig),
}
MODEL_NAMES = tuple(MODELS)


def model_config_from_params(params: dict[str, Any], **overrides: Any) -> ModelConfig:
    """ModelConfig from params.yaml's `model:` section, without the models' own subsections
    (`model.<name>: {...}`, read by own_config); `overrides` (e.g. input_dims) win."""
    shared = {k: v for k, v in (params or {}).items() if k not in MODEL_NAMES}
    config = section_from_params(ModelConfig, "model", shared)
    if config.name not in MODEL_NAMES:
        raise ValueError(f"model.name: {config.name!r} is not one of {list(MODEL_NAMES)}")
    return dataclasses.replace(config, **overrides) if overrides else config


def own_config(name: str, values: dict[str, Any] | None):
    """The model's own settings from params (`model.<name>`, DSRF: `loss`), checked like any section."""
    return section_from_params(MODELS[name][1], "loss" if name == "dsrf" else f"model.{name}", values)


def for_store(own, train_size: int):
    """The own settings with what the store fixes filled in: the training split's size, for a model
    that keeps per-clip state (Self-MM) and was not given one."""
    if getattr(own, "train_size", None) == 0:
        return dataclasses.replace(own, train_size=train_size)
    return own


def build_model(config: ModelConfig, own, text_backbone: TextBackbone | None = None) -> SentimentModel:
    return MODELS[config.name][0](config, own, text_backbone)


def own_from_dict(name: str, values: dict[str, Any]):
    """The own settings a checkpoint kept (`dataclasses.asdict`), as their dataclass again."""
    config_class = MODELS[name][1]
    return config_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in as_recorded(config_class, values).items()})


def own_as_dict(model: SentimentModel) -> dict[str, Any]:
    return dataclasses.asdict(model.own)
