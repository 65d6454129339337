"""Generated datasets in the real formats, for tests and benchmarks: random values, exact layouts.

`write_csd` writes a computational sequence the way the CMU-MultimodalSDK's `write_CSD` does;
`mmsa_split` builds one split of an MMSA pickle (`aligned_50.pkl` / `unaligned_50.pkl`);
`synthetic_source` is an importer's output of any size, generated clip by clip (no files).
"""
from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np

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
