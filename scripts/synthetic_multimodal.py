"""The synthetic multimodal set (pipeline/data/synthetic.py, `multimodal_source`) written as a tensor store.

    .venv/bin/python scripts/synthetic_multimodal.py [--out data/evidence/synthetic/store]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.data.build import write_store  # noqa: E402
from pipeline.data.config import DataConfig, TensorConfig  # noqa: E402
from pipeline.data.store import MANIFEST  # noqa: E402
from pipeline.data.synthetic import STEPS, multimodal_source  # noqa: E402
from scripts.experiment import EVIDENCE  # noqa: E402

SIZES = {"train": 600, "valid": 200, "test": 200}
STORE = EVIDENCE / "synthetic" / "store"


def ensure_store(out: Path = STORE, seed: int = 0) -> Path:
    """The store at `out`, written once (the set is fixed by `seed`)."""
    if not (out / MANIFEST).is_file():
        write_store(multimodal_source(SIZES, seed), DataConfig(path="synthetic", dataset="mosi"),
                    TensorConfig(out=str(out), max_len=dict(STEPS)), out)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=STORE)
    print(ensure_store(parser.parse_args().out))
