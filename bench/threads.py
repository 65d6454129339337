"""Benchmark: two training runs side by side on this machine, with and without the thread policy.

    .venv/bin/python bench/threads.py [--epochs 3] [--clips 256]

`after` is the pipeline as it runs: pipeline/threads.py gives each process cores / processes
threads (two separate runs each see all cores and take them all) and pipeline/__init__.py makes
OpenMP's idle threads spin only briefly before they sleep. `before` is the pipeline without its policy: torch is
imported first, so OpenMP starts with its own defaults, as it did before the policy existed. Each
run trains DSRF on the same generated store (demo-sized features: text 50x384, audio 150x25,
vision 50x16) and prints each epoch's seconds (train + valid); each mode also runs alone, for
reference. The last lines are markdown rows: mode, alone, side by side (median epoch seconds).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {"t": (50, 384), "a": (150, 25), "v": (50, 16)}
MODES = ("before", "after")


def make_store(out: Path, clips: int) -> None:
    from pipeline.data.build import write_store
    from pipeline.data.config import DataConfig, TensorConfig
    from pipeline.data.synthetic import synthetic_source

    sizes = {"train": clips, "valid": clips // 4, "test": clips // 4}
    source = synthetic_source(sizes, {m: t for m, (t, _) in SHAPES.items()}, {m: d for m, (_, d) in SHAPES.items()})
    write_store(source, DataConfig(path="synthetic"), TensorConfig(max_len={m: t for m, (t, _) in SHAPES.items()}), out)


def train(store: Path, epochs: int, folder: Path) -> None:
    """One run, as `pipeline train` makes it: its process setup, its loaders, its epoch loop."""
    from pipeline import distributed  # first: the pipeline's OpenMP setting must precede torch (`before` loaded torch already)
    from pipeline.data.loader import make_loader
    from pipeline.data.store import read_manifest
    from pipeline.model import LossConfig, ModelConfig
    from pipeline.setup import TrainConfig, TrainSetup, build_model
    from pipeline.train import Hooks, Loaders, SeedRun, fit, seed_everything

    import torch

    cfg = TrainConfig(seeds=(1,), epochs=epochs, patience=epochs, store=str(store), device="cpu")
    ctx = distributed.setup(cfg.device, cfg.threads)
    manifest = read_manifest(store)
    seed_everything(1)
    model = build_model(TrainSetup(cfg, ModelConfig(), LossConfig()), manifest)
    loaders = Loaders(*(make_loader(store, split, cfg.batch_size, shuffle=split == "train", seed=1) for split in ("train", "valid")))
    stamps = [time.perf_counter()]

    def log(row: dict, epoch: int) -> None:
        stamps.append(time.perf_counter())
        print(f"epoch {epoch}: {stamps[-1] - stamps[-2]:.2f} s ({torch.get_num_threads()} threads)", flush=True)

    fit(model, loaders, cfg, ctx, SeedRun(1, manifest.dataset, folder, {"fingerprint": "bench"}), Hooks(log))


def launch(mode: str, copies: int, store: Path, epochs: int, work: Path) -> list[list[float]]:
    """Epoch seconds of each of `copies` runs started together in `mode`."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT")}  # the defaults
    runs = [subprocess.Popen([sys.executable, __file__, "--run", str(store), "--mode", mode, "--epochs", str(epochs),
                              "--folder", str(work / f"{mode}{copies}_{i}")], env=env, stdout=subprocess.PIPE, text=True)
            for i in range(copies)]
    times = []
    for run in runs:
        out, _ = run.communicate()
        print(out, end="")
        times.append([float(line.split()[2]) for line in out.splitlines() if line.startswith("epoch")])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--clips", type=int, default=256)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.run:
        if args.mode == "before":
            import torch  # noqa: F401  (loaded first: OpenMP reads its settings before the pipeline sets any)
        return train(Path(args.run), args.epochs, Path(args.folder))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_store(work / "store", args.clips)
        rows = []
        for mode in MODES:
            alone = launch(mode, 1, work / "store", args.epochs, work)
            together = launch(mode, 2, work / "store", args.epochs, work)
            cells = [f"{statistics.median(t):.2f}" for t in together]
            rows.append(f"| {mode} | {statistics.median(alone[0]):.2f} | {' / '.join(cells)} |")
    print(f"\n{os.cpu_count()} cores; median epoch seconds over {args.epochs} epochs, {args.clips} train clips")
    print("| mode | alone | side by side (each run) |\n|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
