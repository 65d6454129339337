"""DSRF configuration: the fields of params.yaml `model:` and `loss:` (the paper's per-dataset
presets are `pipeline/datasets.py`).

Every default is the one docs/model.md gives. `from_params` refuses unknown keys and wrong types
with a message naming the key, so a typo in params.yaml fails before any work starts.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ..modalities import MODALITIES, check_modalities
from ..params import section_from_params

FACTORS = ("emotion", "context", "ambiguity", "noise")
FUSIONS = ("concat", "attention", "transformer")
TASKS = ("regression", "classification")
U_E = ("expected", "sampled")
FOOTINGS = ("standardized", "raw")
# What a checkpoint written before a field existed was trained with: a record without the field
# gets this value, not today's default, so an older model is rebuilt as it was.
BEFORE = {"u_e": "sampled", "usf_footing": "raw", "confidence_head": False, "probe_moves_backbone": True}


@dataclass(frozen=True)
class LossConfig:
    """Weights of the loss terms (params.yaml `loss:`), docs/model.md §3, §4, §5."""

    alpha: float = 0.1  # L_ctx
    beta: float = 0.1  # L_amb + w_ent * L_ent_a
    gamma: float = 0.1  # L_n
    w_mi: float = 0.1
    w_orth: float = 0.1
    w_ent: float = 0.01
    margin: float = 1.0  # of L_amb
    tau: float = 0.1  # temperature of both contrastive terms
    gamma_u: float = 0.01  # entropy weight inside L_USF
    w_probe: float = 0.0  # the USF probe's cross-entropy on sentiment classes (0: untrained probe, the paper)
    probe_moves_backbone: bool = False  # let the probe's cross-entropy train r_e and the encoders (before: it did)
    w_flag: float = 0.0  # teach the modality scores to flag what training-time perturbation corrupted (0: the paper)
    w_trust: float = 0.0  # teach the modality weights to be inverse to each modality's own expected error (0: the paper)
    w_hsf: float = 1.0
    w_dri: float = 1.0
    w_usf: float = 1.0


@dataclass(frozen=True)
class ModelConfig:
    """Architecture (params.yaml `model:`), docs/model.md §2–§6.

    `input_dims` is not a choice but a fact of the features: the data stage fills it from the
    store's manifest (the defaults are the MOSI standard features: BERT 768, COVAREP 74, Facet 35).
    """

    name: str = "dsrf"  # which model: dsrf or a baseline (pipeline/model/registry.py); its own settings are `model.<name>`
    modalities: tuple[str, ...] = MODALITIES
    input_dims: dict[str, int] = field(default_factory=lambda: {"t": 768, "a": 74, "v": 35})
    hidden: int = 128
    layers: int = 2
    heads: int = 4
    dropout: float = 0.1
    factor_layers: int = 2
    capsules: int = 4
    routing_iters: int = 3
    perturb_std: float = 0.1
    perturb_seed: int = 0  # the fixed ε of eval mode, with u_e: sampled
    u_e: str = "expected"  # E_ε of the KL, to second order in σ | "sampled": one draw (the paper)
    usf_footing: str = "standardized"  # z-score each uncertainty by running statistics | "raw": the paper
    lambda_cal: float = 0.1
    usf_temperature: float = 1.0  # τ of softmax(−ũ/τ) for the factor and modality weights (1: the paper)
    ambiguity_reads: str = "ambiguity"  # u_a = H(q(r_a)) (the paper) | "emotion": H(q(r_e))
    fusion: str = "concat"
    task: str = "regression"
    num_classes: int = 7
    class_edges: tuple[float, ...] = ()  # empty: round and clip to num_classes bins (MOSI)
    use_hsf: bool = True
    use_dri: bool = True
    use_usf: bool = True
    confidence_head: bool = True  # a head for each clip's expected absolute error (Laplace scale), detached from the rest

    def __post_init__(self) -> None:
        check_modalities("model.modalities", self.modalities)
        missing = [m for m in self.modalities if m not in self.input_dims]
        if missing:
            raise ValueError(f"model.input_dims: no width for modality {missing}")
        if self.hidden % self.heads:
            raise ValueError(f"model.hidden: {self.hidden} is not divisible by model.heads={self.heads}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"model.fusion: {self.fusion!r} is not one of {list(FUSIONS)}")
        if self.ambiguity_reads not in ("ambiguity", "emotion"):
            raise ValueError(f"model.ambiguity_reads: {self.ambiguity_reads!r} is not ambiguity or emotion")
        if self.u_e not in U_E:
            raise ValueError(f"model.u_e: {self.u_e!r} is not one of {list(U_E)}")
        if self.usf_footing not in FOOTINGS:
            raise ValueError(f"model.usf_footing: {self.usf_footing!r} is not one of {list(FOOTINGS)}")
        if self.usf_temperature <= 0:
            raise ValueError(f"model.usf_temperature: {self.usf_temperature} must be positive")
        if self.task not in TASKS:
            raise ValueError(f"model.task: {self.task!r} is not one of {list(TASKS)}")
        if self.class_edges and len(self.class_edges) + 1 != self.num_classes:
            raise ValueError(
                f"model.class_edges: {len(self.class_edges)} edges make {len(self.class_edges) + 1} classes, "
                f"not model.num_classes={self.num_classes}"
            )
        if not self.class_edges and self.num_classes % 2 == 0:
            raise ValueError(f"model.num_classes: {self.num_classes} must be odd when rounding scores (no class_edges)")


def as_recorded(config_class: type, values: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's record of a config, with `BEFORE`'s value for each field it predates."""
    names = {f.name for f in fields(config_class)}
    return {**{k: v for k, v in BEFORE.items() if k in names}, **values}


def loss_config_from_params(params: dict[str, Any]) -> LossConfig:
    """LossConfig from params.yaml's `loss:` section."""
    return section_from_params(LossConfig, "loss", params)
