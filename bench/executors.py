"""Clips per second of the features stage with the local executor and with Ray actors, on the same
clips in one run, and the peak memory of each worker.

    .venv/bin/python bench/executors.py                              # local:1 local:2 ray:1 ray:2, 30 demo clips
    .venv/bin/python bench/executors.py --threads 1                  # every worker on one thread: outputs must match
    .venv/bin/python bench/executors.py --clips 12 --configs ray:2   # one configuration

Each configuration (`executor:workers`) runs in a fresh process, so models load as in a real run, on
empty output and cache folders: params.yaml's whole extraction (Whisper base int8, MiniLM, openSMILE
eGeMAPSv02, OpenCV faces at 5 fps) of the first --clips rows of raw/demo with no transcripts given.
The time is `run_features` from its call to its return: Ray's start-up (a local Ray of
`workers` CPUs), the workers' model loads and every clip; the time to the first finished clip
shows what start-up and model loading cost. Memory is each worker's peak resident
set: the process itself (local:1), each pool process (local:N), each Ray actor (read from /proc
while it runs). Outputs are compared with the first configuration's, file by file: they match
where the workers run the same number of threads (Whisper's word times and the text encoder's last
bits depend on it), so --threads 1 gives every worker one thread (OMP_NUM_THREADS) to check that.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def corpus(data: Path, clips: int, folder: Path) -> Path:
    """The first `clips` rows of `data`/label.csv, their video folders linked in place."""
    folder.mkdir(parents=True)
    lines = (data / "label.csv").read_text(encoding="utf-8").splitlines()
    (folder / "label.csv").write_text("\n".join(lines[: clips + 1]) + "\n", encoding="utf-8")
    for video in {line.split(",")[0] for line in lines[1 : clips + 1]}:
        (folder / video).symlink_to((data / video).resolve())
    return folder


def is_actor(proc: Path) -> bool:
    return (proc / "cmdline").read_bytes().startswith(b"ray::ClipWorker")


def watch(peaks: dict[int, int], first: list[float], out: Path, start: float, stop: threading.Event) -> None:
    """Peak resident set (VmHWM, KiB) of every live Ray actor process of this benchmark, and when
    the first clip folder was finished (its `.key` written last)."""
    while not stop.wait(0.2):
        if not first and any(out.glob("*/*/.key")):
            first.append(time.perf_counter() - start)
        for proc in Path("/proc").iterdir():
            try:
                if not (proc.name.isdigit() and is_actor(proc)):
                    continue
                status = (proc / "status").read_text()
                parent = Path("/proc") / status.split("PPid:")[1].split()[0]
                if not is_actor(parent):  # an actor's child between fork and exec (ffmpeg) shows its title too
                    peaks[int(proc.name)] = int(status.split("VmHWM:")[1].split()[0])
            except (OSError, IndexError):
                continue  # gone, or not ours to read


def run_one(config: str, data: Path, clips: int, out: Path) -> dict:
    from pipeline.features.config import stage_configs
    from pipeline.features.dataset import run_features
    from pipeline.params import load_params

    executor, workers = config.split(":")
    asr, settings = stage_configs(load_params(ROOT / "params.yaml"))
    settings = dataclasses.replace(settings, data=str(corpus(data, clips, out / "data")), out=str(out / "features"),
                                   cache=str(out / "cache"), transcripts=str(out / "none"), executor=executor, workers=int(workers))
    peaks: dict[int, int] = {}
    first: list[float] = []
    stop = threading.Event()
    start = time.perf_counter()
    sampler = threading.Thread(target=watch, args=(peaks, first, Path(settings.out), start, stop), daemon=True)
    sampler.start()
    report = run_features(settings, asr)
    seconds = time.perf_counter() - start
    stop.set()
    sampler.join()
    if executor == "ray":
        worker_kib = sorted(peaks.values())
    elif int(workers) == 1:
        worker_kib = [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss]
    else:  # the largest pool process (the kernel keeps only the maximum over reaped children)
        worker_kib = [resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]
    return {"config": config, "clips": len(report.extracted), "failed": len(report.failures), "seconds": round(seconds, 1),
            "first_clip_s": round(first[0], 1) if first else None,
            "clips_per_s": round(len(report.extracted) / seconds, 3), "worker_peak_mib": [round(k / 1024) for k in worker_kib]}


def differing(a: Path, b: Path) -> list[str]:
    names = {str(p.relative_to(a)) for p in a.rglob("*") if p.is_file()} | {str(p.relative_to(b)) for p in b.rglob("*") if p.is_file()}
    return sorted(n for n in names if not ((a / n).is_file() and (b / n).is_file() and (a / n).read_bytes() == (b / n).read_bytes()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["local:1", "local:2", "ray:1", "ray:2"])
    parser.add_argument("--clips", type=int, default=30)
    parser.add_argument("--data", type=Path, default=ROOT / "raw" / "demo")
    parser.add_argument("--threads", type=int, default=0, help="threads per worker (0: the thread policy's share)")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # internal: run --configs[0] into this folder
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.configs[0], args.data, args.clips, args.one)))
        return
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for config in args.configs:
            out = Path(tmp) / config.replace(":", "-")
            done = subprocess.run([sys.executable, __file__, "--one", str(out), "--configs", config, "--clips", str(args.clips),
                                   "--data", str(args.data)], env=env, capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]) | {"out": out})
        first = rows[0]["out"]
        threads = args.threads or "default (a local worker: its share of the cores; a Ray actor: its CPUs)"
        print(f"{args.clips} clips of {args.data}, {os.cpu_count()} CPUs, threads per worker: {threads}; "
              f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")
        print("| executor:workers | clips | seconds | first clip done after (s) | clips/s | peak RSS per worker (MiB) | files differing from " + args.configs[0] + " |")
        print("|---|---|---|---|---|---|---|")
        for row in rows:
            diff = differing(row["out"] / "features", first / "features") + differing(row["out"] / "cache", first / "cache")
            shown = f"{len(diff)}" + (f" ({', '.join(diff[:3])}{', ...' if len(diff) > 3 else ''})" if diff else "")
            print(f"| {row['config']} | {row['clips']} (+{row['failed']} failed) | {row['seconds']} | {row['first_clip_s']} | {row['clips_per_s']} | "
                  f"{', '.join(map(str, row['worker_peak_mib']))} | {shown} |")


if __name__ == "__main__":
    main()
