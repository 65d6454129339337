"""The DSRF model (docs/model.md): configuration, modules, and the forward output."""
from .config import FACTORS, LossConfig, ModelConfig, loss_config_from_params, model_config_from_params
from .dsrf import DSRF, DSRFOutput
from .output import ModelOutput
from .text_backbone import TextBackbone

__all__ = [
    "DSRF",
    "DSRFOutput",
    "FACTORS",
    "LossConfig",
    "ModelConfig",
    "ModelOutput",
    "TextBackbone",
    "loss_config_from_params",
    "model_config_from_params",
]
