"""Peak memory and time of `pipeline extract` on a long file (default one hour): does it stream?

    .venv/bin/python bench/long_clip.py [--minutes 60] [--face-fps 1]

Makes the file once with ffmpeg (test pattern video, 320x240 at 10 fps, and a 440 Hz tone), then
runs the real command in a fresh process and reports its wall time, its steps' times and its peak
resident memory. The tone holds no speech, so Whisper's VAD leaves nothing to decode: the figure is
the cost of reading, VAD, openSMILE and the face pass over an hour, not of transcribing an hour of
speech (bench/extract.py measures that per second of speech). The face pass samples `--face-fps`
frames per second to keep the run short; frames are streamed either way.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.features_support import ffmpeg  # noqa: E402

PIPELINE = str(Path(sys.executable).with_name("pipeline"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--face-fps", type=float, default=1)
    args = parser.parse_args()
    seconds = int(args.minutes * 60)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = folder / "long clip.mp4"
        start = time.perf_counter()
        ffmpeg("-f", "lavfi", "-i", f"testsrc=size=320x240:rate=10:duration={seconds}",
               "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=16000:duration={seconds}",
               "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip))
        print(f"made a {seconds} s clip ({clip.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - start:.0f} s")
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        params["features"]["face"]["fps"] = args.face_fps
        (folder / "params.yaml").write_text(yaml.safe_dump(params))
        start = time.perf_counter()
        run = subprocess.run([PIPELINE, "extract", "--video", str(clip), "--out", str(folder / "out"),
                              "--params", str(folder / "params.yaml")], capture_output=True, text=True)
        wall = time.perf_counter() - start
        print(run.stdout.strip() or run.stderr.strip())
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB -> GiB
        audio = seconds * 16_000 * 4 / 2**30
        print(f"{seconds} s clip: exit {run.returncode}, {wall:.0f} s wall ({wall / seconds:.3f} s per s of video), "
              f"peak RSS {peak:.2f} GiB (its 16 kHz float32 audio alone: {audio:.2f} GiB)")


if __name__ == "__main__":
    main()
