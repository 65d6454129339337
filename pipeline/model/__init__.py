"""The DSRF model (DSRF-SPEC.md): configuration, modules, and the forward output."""
from .config import FACTORS, MODALITIES, PRESETS, LossConfig, ModelConfig, Preset, loss_config_from_params, model_config_from_params
from .dsrf import DSRF, DSRFOutput

__all__ = [
    "DSRF",
    "DSRFOutput",
    "FACTORS",
    "MODALITIES",
    "PRESETS",
    "LossConfig",
    "ModelConfig",
    "Preset",
    "loss_config_from_params",
    "model_config_from_params",
]
