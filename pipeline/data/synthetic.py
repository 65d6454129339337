"""Generated datasets, for tests, benchmarks and the evidence scripts: one seed gives one set.

The real formats with random values, exact layouts: `write_csd` writes a computational sequence
the way the CMU-MultimodalSDK's `write_CSD` does; `mmsa_split` builds one split of an MMSA pickle
(`aligned_50.pkl` / `unaligned_50.pkl`).

Importer outputs (`Source`, no files), generated clip by clip:

- `synthetic_source`: any size, N(0, 1) frames and random labels, nothing to learn.
- `multimodal_source`: a label that needs all three modalities. Each clip has a shared sentiment
  c ~ N(0, 0.6²) and per-modality parts u_m ~ N(0, 0.5²); modality m shows a_m = c + u_m, and the
  label is clip(0.7 · (a_t + a_a + a_v), -3, 3). Without one modality its part u_m is lost (only c
  is partly recoverable from the other two): the best possible MAE rises from about 0 to about 0.33.
- `reliability_source`: each modality of each clip may be clean, noisy, conflicting or missing.
  Every clip has one latent sentiment s ~ N(0, 1) and the label 1.5·s (clipped to [-3, 3]): it
  depends on s alone. Each modality m of the clip, independently, is
  clean: it shows a_m = s + N(0, 0.3²), its own view of the clip's sentiment;
  conflicting: it shows a_m = s' + N(0, 0.3²), where s' is the sentiment of another clip of the
  same split: it looks clean, and only the other modalities can tell it is wrong;
  noisy: it shows no sentiment at all, only louder frames (N(0, 2²) in every feature);
  missing: it has no frames (the store marks it absent).
  Each clip keeps at least one clean modality (a clip whose draws left none has one of its
  modalities, at random, made clean): the label can always be recovered, and a model that finds
  the unreliable modalities of each clip and listens to the others can approach the `oracle` — the
  same data with every noisy and conflicting modality marked missing, i.e. a model told which
  modality is unreliable. With all rates 0 the set is clean. The statuses do not depend on the
  rates of other splits.

In the last two a modality that shows a_m has T_m frames a_m·u_m + N(0, 1), u_m a fixed unit
direction (`directions`), so a_m is read from the whole sequence.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import h5py
import numpy as np

from ..modalities import MODALITIES
from .source import SPLITS, Entry, Source


def write_csd(path: Path, root: str, videos: dict[str, tuple[np.ndarray, np.ndarray]],
              metadata: dict[str, str] | None = None) -> None:
    """videos: video id -> (features (rows, d), intervals (rows, 2) seconds)."""
    with h5py.File(path, "w") as handle:
        group = handle.create_group(root)
        data = group.create_group("data")
        for video, (features, intervals) in videos.items():
            entry = data.create_group(video)
            entry.create_dataset("features", data=features)
            entry.create_dataset("intervals", data=intervals)
        meta = group.create_group("metadata")
        for key, value in (metadata or {"root name": root, "dimension names": "[]"}).items():
            meta.create_dataset(key, (1,), dtype=h5py.special_dtype(vlen=str))[0] = value


def mmsa_split(n: int, rng: np.random.Generator, *, steps: dict[str, int], dims: dict[str, int],
               aligned: bool, sims: bool = False, first_video: int = 0) -> dict:
    """One split as MMSA stores it: text (n, T_t, d_t) vectors, text_bert (n, 3, T_t), audio, vision, labels."""
    bound = 1.0 if sims else 3.0
    t_len = rng.integers(1, steps["t"] + 1, n)
    a_len = np.full(n, steps["a"]) if aligned else rng.integers(1, steps["a"] + 1, n)
    v_len = np.full(n, steps["v"]) if aligned else rng.integers(1, steps["v"] + 1, n)
    split = {
        "id": np.array([f"video{first_video + i // 3}$_${i % 3 + 1}" for i in range(n)], dtype=object),
        "raw_text": np.array([f"clip {i}" for i in range(n)], dtype=object),
        "text": _padded(rng, n, steps["t"], dims["t"], t_len),
        "text_bert": np.stack([  # (n, 3, T_t): token ids, attention mask, segment ids
            np.where(np.arange(steps["t"]) < t_len[:, None], rng.integers(1000, 30000, (n, steps["t"])), 0),
            (np.arange(steps["t"]) < t_len[:, None]).astype(np.float64),
            np.zeros((n, steps["t"])),
        ], axis=1).astype(np.float64),
        "audio": _padded(rng, n, steps["a"], dims["a"], a_len),
        "vision": _padded(rng, n, steps["v"], dims["v"], v_len),
        "regression_labels": rng.uniform(-bound, bound, n).astype(np.float32),
        "classification_labels": rng.integers(0, 3, n).astype(np.float32),
        "annotations": np.array(["Neutral"] * n, dtype=object),
    }
    if not aligned:
        split["audio_lengths"] = [int(v) for v in a_len]  # MMSA keeps these as lists
        split["vision_lengths"] = [int(v) for v in v_len]
    if sims:
        for s in "TAV":
            split[f"regression_labels_{s}"] = rng.uniform(-1, 1, n).astype(np.float32)
    return split


def write_mmsa(path: Path, splits: dict[str, dict]) -> None:
    with open(path, "wb") as handle:
        pickle.dump(splits, handle, protocol=pickle.HIGHEST_PROTOCOL)


def _padded(rng: np.random.Generator, n: int, steps: int, dim: int, lengths: np.ndarray) -> np.ndarray:
    values = rng.standard_normal((n, steps, dim)).astype(np.float32)  # (n, T, d)
    values[np.arange(steps)[None, :] >= lengths[:, None]] = 0.0
    return values


def synthetic_source(sizes: dict[str, int], steps: dict[str, int], dims: dict[str, int], seed: int = 0) -> Source:
    """sizes: split -> clips. Lengths uniform in [steps/4, steps]; each clip's values drawn when loaded."""
    rng = np.random.default_rng(seed)
    entries = []
    for split in SPLITS:
        for i in range(sizes.get(split, 0)):
            entries.append(Entry(
                id=f"{split}{i // 8}/{i % 8}",
                split=split,
                label=float(rng.uniform(-3, 3)),
                sublabels={},
                lengths={m: int(rng.integers(max(1, t // 4), t + 1)) for m, t in steps.items()},
                where=f"synthetic clip {len(entries)}",
            ))

    def load(index: int) -> dict[str, np.ndarray]:
        clip_rng = np.random.default_rng([seed, index])
        return {
            m: clip_rng.standard_normal((n, dims[m]), dtype=np.float32) for m, n in entries[index].lengths.items()
        }

    features = {m: {"extractor": "synthetic", "model": "normal(0, 1)", "settings": {}} for m in dims}
    return Source(format="synthetic", entries=entries, dims=dict(dims), features=features, load=load)


# The two learnable sets: what each modality of a clip shows, and how it shows it.
DIMS = {"t": 16, "a": 8, "v": 8}
STEPS = {"t": 16, "a": 24, "v": 24}
SHARED_STD, OWN_STD, MULTIMODAL_SCALE = 0.6, 0.5, 0.7  # multimodal_source
STATUSES = ("clean", "noisy", "conflicting", "missing")  # reliability_source
SCALE, VIEW_STD, NOISY_STD = 1.5, 0.3, 2.0


def multimodal_source(sizes: dict[str, int], seed: int = 0) -> Source:
    """sizes: split -> clips. The parts a_m are drawn up front; each clip's sequences when it is loaded."""
    rng = np.random.default_rng(seed)
    toward = directions(rng)
    entries, shown = [], []
    for split in SPLITS:
        for i in range(sizes.get(split, 0)):
            shared = rng.normal(0.0, SHARED_STD)
            a = {m: shared + rng.normal(0.0, OWN_STD) for m in DIMS}
            shown.append(a)
            entries.append(Entry(
                id=f"{split}{i // 10}/{i % 10}", split=split,
                label=float(np.clip(MULTIMODAL_SCALE * sum(a.values()), -3.0, 3.0)), sublabels={},
                lengths={m: int(rng.integers(t // 2, t + 1)) for m, t in STEPS.items()},
                where=f"synthetic clip {len(entries)}",
            ))
    described = {"extractor": "synthetic", "model": "a_m * direction + N(0, 1)", "settings": {"seed": seed}}
    # One noise stream per clip, drawn modality after modality: no modality is ever missing here.
    return _showing(entries, shown, toward, lambda index: [np.random.default_rng([seed, index])] * len(DIMS), described)


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
    described = {"extractor": "synthetic reliability", "model": "a_m * u_m + N(0, 1)", "settings": {"seed": seed, "oracle": oracle}}
    # One noise stream per modality, so that hiding a modality (the oracle) leaves the others' frames as they were.
    noise = lambda index: [np.random.default_rng([seed, 7, index, k]) for k in range(len(MODALITIES))]  # noqa: E731
    return _showing(entries, shown, directions(seed), noise, described), statuses


def directions(seed: int | np.random.Generator) -> dict[str, np.ndarray]:
    """u_m (d_m,), the unit direction along which modality m shows a_m (a generator is drawn from and goes on)."""
    rng = np.random.default_rng(seed)
    return {m: (v := rng.standard_normal(d)) / np.linalg.norm(v) for m, d in DIMS.items()}


def _showing(entries: list[Entry], shown: list[dict[str, float | None]], toward: dict[str, np.ndarray],
             noise: Callable[[int], list[np.random.Generator]], described: dict) -> Source:
    """Clips whose modality m shows shown[clip][m] = a_m as T_m frames a_m·u_m + N(0, 1), so a_m is read
    from the whole sequence; None shows no sentiment, only louder frames N(0, NOISY_STD²).
    noise(clip index) gives each modality's generator of the N(0, 1) draws."""
    def load(index: int) -> dict[str, np.ndarray]:
        streams = noise(index)
        frames = {}
        for k, (m, n) in enumerate(entries[index].lengths.items()):
            value, draws = shown[index][m], streams[k].standard_normal((n, DIMS[m]))  # (T, d)
            frames[m] = (draws * NOISY_STD if value is None else value * toward[m] + draws).astype(np.float32)
        return frames

    return Source(format="synthetic", entries=entries, dims=dict(DIMS), features={m: dict(described) for m in DIMS},
                  load=load)
