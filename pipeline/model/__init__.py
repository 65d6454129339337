"""The models: DSRF (docs/model.md) and the baselines, their configuration, and the forward output."""
from .base import SentimentModel
from .concat import Concat
from .config import FACTORS, LossConfig, ModelConfig, loss_config_from_params
from .dsrf import DSRF, DSRFOutput
from .output import ModelOutput
from . import registry
from .registry import MODEL_NAMES, build_model, model_config_from_params, own_config
from .text_backbone import TextBackbone

__all__ = [
    "Concat",
    "DSRF",
    "DSRFOutput",
    "FACTORS",
    "LossConfig",
    "MODEL_NAMES",
    "ModelConfig",
    "ModelOutput",
    "SentimentModel",
    "TextBackbone",
    "build_model",
    "loss_config_from_params",
    "model_config_from_params",
    "own_config",
]
