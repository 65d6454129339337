"""The three modalities, named once: every section of params.yaml and every module uses these keys."""
from __future__ import annotations

MODALITIES = ("t", "a", "v")
MODALITY_NAMES = {"t": "text", "a": "audio", "v": "vision"}


def check_modalities(name: str, modalities: tuple[str, ...], allow_empty: bool = False) -> None:
    """A ValueError naming the param `name` unless `modalities` is a subset of MODALITIES, without repeats."""
    bad = [m for m in modalities if m not in MODALITIES]
    if bad or (not modalities and not allow_empty) or len(set(modalities)) != len(modalities):
        raise ValueError(f"{name}: {list(modalities)} is not a{' ' if allow_empty else ' non-empty '}subset of {list(MODALITIES)}")
