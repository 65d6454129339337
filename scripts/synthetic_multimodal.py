"""A synthetic multimodal set whose label needs all three modalities, written as a tensor store.

    .venv/bin/python scripts/synthetic_multimodal.py [--out data/evidence/synthetic/store]

Each clip has a shared sentiment c ~ N(0, 0.6²) and per-modality parts u_m ~ N(0, 0.5²); modality
m shows a_m = c + u_m, and the label is clip(0.7 · (a_t + a_a + a_v), -3, 3). Every step of modality
m is a_m times a fixed unit direction plus N(0, 1) noise in every feature, so a_m is read from the
whole sequence. Without one modality its part u_m is lost (only c is partly recoverable from the
other two): the best possible MAE rises from about 0 to about 0.33.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.data.build import write_store  # noqa: E402
from pipeline.data.config import DataParams, TensorParams  # noqa: E402
from pipeline.data.source import SPLITS, Entry, Source  # noqa: E402
from pipeline.data.store import MANIFEST  # noqa: E402
from scripts.experiment import EVIDENCE  # noqa: E402

DIMS = {"t": 16, "a": 8, "v": 8}
STEPS = {"t": 16, "a": 24, "v": 24}
SIZES = {"train": 600, "valid": 200, "test": 200}
SHARED_STD, OWN_STD, SCALE = 0.6, 0.5, 0.7
STORE = EVIDENCE / "synthetic" / "store"


def multimodal_source(sizes: dict[str, int], seed: int = 0) -> Source:
    """sizes: split -> clips. The parts a_m are drawn up front; each clip's sequences when it is loaded."""
    rng = np.random.default_rng(seed)
    directions = {m: _unit(rng.standard_normal(d)) for m, d in DIMS.items()}  # m -> (d_m,)
    entries, parts = [], []
    for split in SPLITS:
        for i in range(sizes.get(split, 0)):
            shared = rng.normal(0.0, SHARED_STD)
            a = {m: shared + rng.normal(0.0, OWN_STD) for m in DIMS}
            parts.append(a)
            entries.append(Entry(
                id=f"{split}{i // 10}/{i % 10}", split=split,
                label=float(np.clip(SCALE * sum(a.values()), -3.0, 3.0)), sublabels={},
                lengths={m: int(rng.integers(t // 2, t + 1)) for m, t in STEPS.items()},
                where=f"synthetic clip {len(entries)}",
            ))

    def load(index: int) -> dict[str, np.ndarray]:
        clip_rng = np.random.default_rng([seed, index])
        return {
            m: (parts[index][m] * directions[m] + clip_rng.standard_normal((n, DIMS[m]))).astype(np.float32)  # (T, d)
            for m, n in entries[index].lengths.items()
        }

    features = {m: {"extractor": "synthetic", "model": "a_m * direction + N(0, 1)", "settings": {"seed": seed}} for m in DIMS}
    return Source(format="synthetic", entries=entries, dims=dict(DIMS), features=features, load=load)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def ensure_store(out: Path = STORE, seed: int = 0) -> Path:
    """The store at `out`, written once (the set is fixed by `seed`)."""
    if not (out / MANIFEST).is_file():
        write_store(multimodal_source(SIZES, seed), DataParams(path="synthetic", dataset="mosi"),
                    TensorParams(out=str(out), max_len=dict(STEPS)), out)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=STORE)
    print(ensure_store(parser.parse_args().out))
