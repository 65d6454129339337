"""What every importer hands the store builder: a light index of the clips, and a way to read one.

The index (ids, splits, labels, sequence lengths) is cheap to hold for a whole dataset; the
feature arrays are read one clip at a time by `Source.load`, so a build never holds them all.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

SPLITS = ("train", "valid", "test")
SUBLABELS = ("T", "A", "V")  # per-modality labels of SIMS / SIMSv2
TOKENS = "t_tokens"  # the text rows' input ids, where a source has them
HIDDEN = "t_hidden"  # the text encoder's states below its top features.text.top_layers layers, where a source has them


@dataclass
class Entry:
    id: str  # "<video_id>/<clip_id>"
    split: str  # train | valid | test
    label: float
    sublabels: dict[str, float]  # "T" | "A" | "V" -> score, where the dataset gives them
    lengths: dict[str, int]  # m (and t@<source>) -> rows of its feature sequence before truncation; 0 = missing
    where: str  # the file and row to name in an error about this clip


@dataclass
class Source:
    format: str  # features | mmsa | csd
    entries: list[Entry]
    dims: dict[str, int]  # m -> feature width, for the modalities this source carries
    features: dict[str, dict[str, Any]]  # m -> extractor, model, settings (what predict must repeat)
    load: Callable[[int], dict[str, np.ndarray]]  # entry index -> m -> (T, d) float32 values (and TOKENS -> (T,) ids;
    # per other transcript source s, "t@s" and "t_tokens@s": pipeline/transcripts.py)
    skipped: list[str] = field(default_factory=list)  # "<where>: <why>" of clips left out
    tokens: bool = False  # every clip's text rows carry the encoder's input ids, under TOKENS in `load`
    hidden: bool = False  # every clip's text rows carry the states below the tuned layers, under HIDDEN in `load`
    extraction: dict[str, Any] | None = None  # the transcribe/features settings (features stage output only)
    transcripts: tuple[str, ...] = ()  # every clip's other transcript sources (label.csv text_<source>), features stage output only


def parse_split(value: Any, where: str) -> str:
    split = str(value).strip().lower()
    if split == "val":
        split = "valid"
    if split not in SPLITS:
        raise ValueError(f"{where}: mode {value!r} is not one of {list(SPLITS)}")
    return split
