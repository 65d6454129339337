"""The DSRF model (DSRF-SPEC.md): configuration, modules, and the forward output."""
from .config import FACTORS, MODALITIES, PRESETS, LossConfig, ModelConfig, Preset, loss_config_from_params, model_config_from_params
from .dsrf import DSRF, DSRFOutput
from .output import ModelOutput
from .text_backbone import TextBackbone

__all__ = [
    "DSRF",
    "DSRFOutput",
    "FACTORS",
    "MODALITIES",
    "PRESETS",
    "LossConfig",
    "ModelConfig",
    "ModelOutput",
    "Preset",
    "TextBackbone",
    "loss_config_from_params",
    "model_config_from_params",
]
