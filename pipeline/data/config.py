"""Settings of the tensors stage: params.yaml `data:` (what to read) and `tensors:` (how to store it)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..datasets import DATASETS, dataset_info
from ..modalities import MODALITIES, check_modalities
from ..params import section_from_params

TRUNCATIONS = ("head", "tail", "uniform")
DTYPES = ("float32", "float16")
NONFINITE = ("error", "zero")


@dataclass(frozen=True)
class DataConfig:
    """params.yaml `data:`; the comments in params.yaml say what each key does."""

    path: str = "raw/demo"
    format: str = "auto"  # auto | a name in importers.IMPORTERS (checked where it is looked up)
    dataset: str = "mosi"
    modalities: tuple[str, ...] = MODALITIES
    folds: str = ""  # csd only: an SDK folds file (.py or .json); "" = the embedded standard MOSI folds
    csd_files: dict[str, str] = field(default_factory=dict)  # csd only: role (labels|t|a|v) -> file name

    def __post_init__(self) -> None:
        dataset_info(self.dataset)
        check_modalities("data.modalities", self.modalities)
        bad = sorted(set(self.csd_files) - {"labels", *MODALITIES})
        if bad:
            raise ValueError(f"data.csd_files: unknown role {bad} (known: labels, {', '.join(MODALITIES)})")

    @property
    def label_range(self) -> tuple[float, float]:
        return DATASETS[self.dataset].label_range


@dataclass(frozen=True)
class TensorConfig:
    """params.yaml `tensors:`; per-modality keys (max_len, truncate) may name any of t, a, v."""

    out: str = "data/store"
    features: str = "data/features"  # the features stage's output, read when data.path is a raw dataset
    max_len: dict[str, int] = field(default_factory=lambda: {"t": 50, "a": 500, "v": 500})
    truncate: dict[str, str] = field(default_factory=lambda: {"t": "head", "a": "head", "v": "head"})
    dtype: str = "float32"
    normalize: tuple[str, ...] = MODALITIES
    nonfinite: str = "error"

    def __post_init__(self) -> None:
        for m, n in self.max_len.items():
            if m not in MODALITIES or isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"tensors.max_len.{m}: expected a modality of {list(MODALITIES)} and a whole number >= 1, got {n!r}")
        for m, policy in self.truncate.items():
            if m not in MODALITIES or policy not in TRUNCATIONS:
                raise ValueError(f"tensors.truncate.{m}: expected a modality of {list(MODALITIES)} and one of {list(TRUNCATIONS)}, got {policy!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"tensors.dtype: {self.dtype!r} is not one of {list(DTYPES)}")
        if self.nonfinite not in NONFINITE:
            raise ValueError(f"tensors.nonfinite: {self.nonfinite!r} is not one of {list(NONFINITE)}")
        check_modalities("tensors.normalize", self.normalize, allow_empty=True)

    def max_len_of(self, m: str) -> int:
        if m not in self.max_len:
            raise ValueError(f"tensors.max_len: no length for modality {m!r}")
        return self.max_len[m]

    def truncate_of(self, m: str) -> str:
        return self.truncate.get(m, "head")


def data_config(values: dict[str, Any] | None) -> DataConfig:
    return section_from_params(DataConfig, "data", values)


def tensor_config(values: dict[str, Any] | None) -> TensorConfig:
    return section_from_params(TensorConfig, "tensors", values)
