"""A synthetic benchmark where each modality of each clip may be clean, noisy, conflicting or missing.

Every clip has one latent sentiment s ~ N(0, 1) and the label 1.5·s (clipped to [-3, 3]): it
depends on s alone. Each modality m of the clip, independently, is

- clean: it shows a_m = s + N(0, 0.3²), its own view of the clip's sentiment;
- conflicting: it shows a_m = s' + N(0, 0.3²), where s' is the sentiment of another clip of the
  same split: it looks clean, and only the other modalities can tell it is wrong;
- noisy: it shows no sentiment at all, only louder frames (N(0, 2²) in every feature);
- missing: it has no frames (the store marks it absent).

A modality that shows a_m has T_m frames a_m·u_m + N(0, 1), u_m a fixed unit direction, so a_m is
read from the whole sequence. Each clip keeps at least one clean modality (a clip whose draws left
none has one of its modalities, at random, made clean): the label can always be recovered, and a
model that finds the unreliable modalities of each clip and listens to the others can approach the
`oracle` — the same data with every noisy and conflicting modality marked missing, i.e. a model
told which modality is unreliable. With all rates 0 the set is clean.

`reliability_source` is seeded: the same seed gives the same clips, statuses and frames, and the
statuses do not depend on the rates of other splits.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..modalities import MODALITIES
from .source import SPLITS, Entry, Source

DIMS = {"t": 16, "a": 8, "v": 8}
STEPS = {"t": 16, "a": 24, "v": 24}
STATUSES = ("clean", "noisy", "conflicting", "missing")
SCALE, VIEW_STD, NOISY_STD = 1.5, 0.3, 2.0


@dataclass(frozen=True)
class Rates:
    """The probability of each unreliable status, per clip and modality (the rest is clean)."""

    noisy: float = 0.0
    conflicting: float = 0.0
    missing: float = 0.0

    def __post_init__(self) -> None:
        if min(self.noisy, self.conflicting, self.missing) < 0 or self.noisy + self.conflicting + self.missing > 1:
            raise ValueError(f"reliability rates {self}: each must be >= 0 and their sum at most 1")


def reliability_source(sizes: dict[str, int], rates: dict[str, Rates], seed: int = 0,
                       oracle: bool = False) -> tuple[Source, dict[str, dict[str, str]]]:
    """(the source, {clip id: {modality: status}}). `rates` per split (a split not named is clean);
    `oracle` marks every noisy and conflicting modality missing, the statuses staying as drawn."""
    toward = directions(seed)
    entries: list[Entry] = []
    shown: list[dict[str, float | None]] = []  # per clip: m -> a_m, or None for noise frames
    statuses: dict[str, dict[str, str]] = {}
    for split in SPLITS:
        n = sizes.get(split, 0)
        split_rng = np.random.default_rng([seed, SPLITS.index(split)])
        sentiment = split_rng.standard_normal(n)
        r = rates.get(split, Rates())
        draws = split_rng.choice(len(STATUSES), size=(n, len(MODALITIES)),
                                 p=[1 - r.noisy - r.conflicting - r.missing, r.noisy, r.conflicting, r.missing])
        for i in range(n):
            if not (draws[i] == 0).any():  # keep one clean modality
                draws[i, split_rng.integers(len(MODALITIES))] = 0
            clip = f"{split}{i // 10}/{i % 10}"
            status = {m: STATUSES[k] for m, k in zip(MODALITIES, draws[i])}
            other = sentiment[(i + 1 + split_rng.integers(max(n - 1, 1))) % n]
            view = {m: sentiment[i] if status[m] == "clean" else other for m in MODALITIES}
            shown.append({m: None if status[m] == "noisy" else view[m] + split_rng.normal(0.0, VIEW_STD) for m in MODALITIES})
            steps = {m: int(split_rng.integers(STEPS[m] // 2, STEPS[m] + 1)) for m in MODALITIES}  # drawn for all: same stream either way
            unusable = ("missing", "noisy", "conflicting") if oracle else ("missing",)
            lengths = {m: 0 if status[m] in unusable else steps[m] for m in MODALITIES}
            statuses[clip] = status
            entries.append(Entry(id=clip, split=split, label=float(np.clip(SCALE * sentiment[i], -3.0, 3.0)), sublabels={},
                                 lengths=lengths, where=f"reliability clip {clip}"))

    def load(index: int) -> dict[str, np.ndarray]:
        frames = {}
        for k, (m, n) in enumerate(entries[index].lengths.items()):
            value = shown[index][m]
            noise = np.random.default_rng([seed, 7, index, k]).standard_normal((n, DIMS[m]))  # (T, d): the oracle's too
            frames[m] = (noise * NOISY_STD if value is None else value * toward[m] + noise).astype(np.float32)
        return frames

    described = {"extractor": "synthetic reliability", "model": "a_m * u_m + N(0, 1)", "settings": {"seed": seed, "oracle": oracle}}
    return Source(format="synthetic", entries=entries, dims=dict(DIMS), features={m: dict(described) for m in DIMS},
                  load=load), statuses


def directions(seed: int) -> dict[str, np.ndarray]:
    """u_m (d_m,), the unit direction along which modality m shows a_m."""
    rng = np.random.default_rng(seed)
    return {m: (v := rng.standard_normal(d)) / np.linalg.norm(v) for m, d in DIMS.items()}
