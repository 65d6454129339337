"""The datasets the pipeline knows, named once: their label scale, sentiment classes and metrics,
and the paper's training settings for each (`train.preset`)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dataset:
    label_range: tuple[float, float]
    num_classes: int  # sentiment classes of the model's probes and L_mi (docs/model.md, "Task and losses")
    class_edges: tuple[float, ...]  # empty: round and clip the score to num_classes bins
    family: str  # whose metrics apply: "mosi" (MOSI, MOSEI) or "sims" (SIMS, SIMSv2)


DATASETS: dict[str, Dataset] = {
    "mosi": Dataset((-3.0, 3.0), 7, (), "mosi"),
    "mosei": Dataset((-3.0, 3.0), 7, (), "mosi"),
    "sims": Dataset((-1.0, 1.0), 5, (-0.7, -0.1, 0.1, 0.7), "sims"),
    "simsv2": Dataset((-1.0, 1.0), 5, (-0.7, -0.1, 0.1, 0.7), "sims"),
}


@dataclass(frozen=True)
class Preset:
    """The paper's per-dataset training settings (its section 4.2)."""

    lr: float
    batch_size: int
    hidden: int
    weight_decay: float


PRESETS: dict[str, Preset] = {
    "mosi": Preset(3e-5, 32, 128, 1e-3),
    "mosei": Preset(1e-5, 64, 128, 1e-3),
    "sims": Preset(1e-5, 32, 64, 1e-2),
    "simsv2": Preset(1e-5, 32, 128, 1e-2),
}


def dataset_info(name: str, param: str = "data.dataset") -> Dataset:
    if name not in DATASETS:
        raise ValueError(f"{param}: {name!r} is not one of {list(DATASETS)}")
    return DATASETS[name]
