"""Benchmark: the tensor store at MOSEI size — peak memory of the build and of one epoch, loader speed.

    .venv/bin/python bench/store.py                      # 23,000 clips: text 50x768, audio 500x74, vision 500x35
    .venv/bin/python bench/store.py --clips 2000 --workers 2

The store (about 8.5 GB at float32) is written under --out (default /tmp) and deleted afterwards
unless --keep. The build and the epoch each run in a child process, so each peak RSS (the
kernel's ru_maxrss, file pages mapped by the mmap included) is that phase's alone. The epoch
reads a store the build has just written, so its pages are mostly in the OS page cache: the
samples/s are warm-cache figures.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

SHAPES = {"t": (50, 768), "a": (500, 74), "v": (500, 35)}  # MOSEI: BERT, COVAREP, Facet
SPLIT_SHARE = {"train": 0.713, "valid": 0.083, "test": 0.204}  # MOSEI's 16,326 / 1,871 / 4,659


def build(out: Path, clips: int) -> dict:
    from pipeline.data.build import write_store
    from pipeline.data.config import DataConfig, TensorConfig
    from pipeline.data.synthetic import synthetic_source

    sizes = {s: round(clips * share) for s, share in SPLIT_SHARE.items()}
    sizes["train"] += clips - sum(sizes.values())
    source = synthetic_source(sizes, {m: t for m, (t, _) in SHAPES.items()}, {m: d for m, (_, d) in SHAPES.items()})
    params = TensorConfig(max_len={m: t for m, (t, _) in SHAPES.items()})
    start = time.perf_counter()
    manifest = write_store(source, DataConfig(path="synthetic", dataset="mosei"), params, out)
    return {"seconds": time.perf_counter() - start, "splits": manifest.splits}


def epoch(out: Path, batch_size: int, workers: int) -> dict:
    from pipeline.data.loader import make_loader

    loader = make_loader(out, "train", batch_size, shuffle=True, seed=0, num_workers=workers)
    start, samples, checksum = time.perf_counter(), 0, 0.0
    for batch in loader:
        samples += len(batch)
        checksum += float(batch.inputs["a"][:, 0, 0].sum())  # touch the data, as a model would
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "samples": samples, "samples_per_s": samples / seconds}


def run_phase(args: list[str]) -> tuple[dict, float]:
    """(the phase's result, its peak RSS in GiB) from a child process."""
    child = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    output = child.stdout.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"phase {args[:2]} failed")
    return json.loads(output.strip().splitlines()[-1]), usage.ru_maxrss / 2**20  # KiB -> GiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=23000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/dsrf-bench-store"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the store afterwards")
    parser.add_argument("--phase", choices=["build", "epoch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "build":
        print(json.dumps(build(args.out, args.clips)))
        return
    if args.phase == "epoch":
        print(json.dumps(epoch(args.out, args.batch_size, args.workers)))
        return

    try:
        built, build_rss = run_phase(["--phase", "build", "--out", str(args.out), "--clips", str(args.clips)])
        size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file()) / 2**30
        loaded, epoch_rss = run_phase(["--phase", "epoch", "--out", str(args.out), "--batch-size", str(args.batch_size),
                                       "--workers", str(args.workers)])
    finally:
        if not args.keep:
            shutil.rmtree(args.out, ignore_errors=True)
    print(f"store: {args.clips} clips {built['splits']}, {size:.2f} GiB on disk")
    print(f"build: {built['seconds']:.0f} s, peak RSS {build_rss:.2f} GiB")
    note = " (the main process; workers not counted)" if args.workers else ""
    print(f"epoch (train, batch {args.batch_size}, {args.workers} workers): {loaded['samples']} samples in "
          f"{loaded['seconds']:.1f} s = {loaded['samples_per_s']:.0f} samples/s, peak RSS {epoch_rss:.2f} GiB{note}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
