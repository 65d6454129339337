"""Every importer the tensors stage reads a dataset with, by the name params.yaml gives it (`data.format`).

Each is three functions in its own module, listed here on one line: whether a path is in its format
(what `data.format: auto` asks, in the order below), the fingerprints of what it reads (the store's
key), and the `Source` it reads. docs/extending.md says which files a new one touches.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .clips import clips_hashes, clips_source, is_clips
from .config import DataConfig
from .csd import csd_hashes, csd_source, is_csd
from .mmsa import is_mmsa, mmsa_hashes, mmsa_source
from .source import Source


@dataclass(frozen=True)
class Importer:
    finds: Callable[[Path], bool]  # `path` is in this format
    hashes: Callable[[Path, DataConfig], dict[str, str]]  # file -> fingerprint of everything it reads
    read: Callable[[Path, DataConfig], Source]


IMPORTERS = {
    "mmsa": Importer(is_mmsa, mmsa_hashes, mmsa_source),
    "csd": Importer(is_csd, csd_hashes, csd_source),
    "features": Importer(is_clips, clips_hashes, clips_source),
}


def importer(name: str) -> Importer:
    if name not in IMPORTERS:
        raise ValueError(f"data.format: {name!r} is not one of {['auto', *IMPORTERS]}")
    return IMPORTERS[name]
