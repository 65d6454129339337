"""Latency of `pipeline predict` on a 10 s clip, CPU: cold (a fresh process, models loaded) and warm.

    .venv/bin/python bench/predict_latency.py [--model models] [--clips 4]

Makes a 10 s clip from the demo corpus (three clips joined), then runs the real command: once on
one clip (cold: process start, model and extractor loading included), and once on `--clips` copies
in one call (warm: the models are loaded once). The split between extraction and the model comes
from the command's own timing line.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = str(Path(sys.executable).with_name("pipeline"))
TIMING = re.compile(r"loaded in ([\d.]+) s; extraction ([\d.]+) s, scoring ([\d.]+) s for (\d+) clip")


def ten_second_clip(folder: Path) -> Path:
    parts = [ROOT / "raw" / "demo" / "demo01" / f"{i}.mp4" for i in (1, 2, 3)]
    listing = folder / "parts.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    out = folder / "clip10s.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "concat", "-safe", "0",
                    "-i", str(listing), "-t", "10", "-c:v", "libx264", "-c:a", "aac", str(out)], check=True)
    return out


def timed(*videos: Path, model: str) -> tuple[float, tuple[float, ...]]:
    args = [PIPELINE, "predict", "--model", model] + [a for v in videos for a in ("--video", str(v))]
    start = time.perf_counter()
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env={"COLUMNS": "200", "PATH": ""}, check=True)
    wall = time.perf_counter() - start
    match = TIMING.search(result.stdout.replace("\n", " "))
    return wall, tuple(float(g) for g in match.groups())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="models")
    parser.add_argument("--clips", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = ten_second_clip(Path(tmp))
        cold, (load, extract, score, _) = timed(clip, model=args.model)
        print(f"cold, 1 clip of 10 s: {cold:.1f} s wall (model load {load:.1f} s, extraction {extract:.1f} s "
              f"with the extractors' loading, model {score:.2f} s; the rest is process start and imports)")
        warm, (load, extract, score, n) = timed(*[clip] * args.clips, model=args.model)
        print(f"warm, {int(n)} clips in one call: {warm:.1f} s wall, so {(warm - cold) / (n - 1):.1f} s per further clip; "
              f"mean per clip: extraction {extract / n:.1f} s, model {score / n:.3f} s")


if __name__ == "__main__":
    main()
