"""Seconds of processing per second of video, per step and in total, for `pipeline extract`'s code.

    .venv/bin/python bench/extract.py --seconds 10 60

Each clip is the astronaut face (scikit-image, public domain) over real speech (espeak-ng where
installed, else the MOSI sample looped), made once in a temporary folder. Settings are params.yaml's
(Whisper base int8 from the offline package, MiniLM, eGeMAPSv02, the OpenCV face backend at 5 fps).
Models load in a warm-up run first; each step is then compared with calling its library directly on
the same input (faster-whisper's transcribe, openSMILE's process_signal), the target being at most
10% over it, and the total at most 0.5x real time. Last, the face pass alone with and without its
expression network, in turn on the same clips (median of 3 each).
"""
from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.features.acoustic import smile  # noqa: E402
from pipeline.features.config import features_config, transcribe_config  # noqa: E402
from pipeline.features.extract import ClipInput, extract_clip  # noqa: E402
from pipeline.features.face import face_features  # noqa: E402
from pipeline.features.media import SAMPLE_RATE, load_audio, probe  # noqa: E402
from pipeline.features.transcribe import whisper_model  # noqa: E402
from pipeline.params import load_params  # noqa: E402
from tests.features_support import MOSI_WAV, ffmpeg, face_png  # noqa: E402

SPEECH = ("I really enjoyed this film, the acting was wonderful and the story kept me interested. "
          "Some scenes were a little slow, but overall it was a good evening at the cinema. ") * 4


def make_clip(folder: Path, seconds: int) -> Path:
    speech = folder / "speech.wav"
    if shutil.which("espeak-ng"):
        subprocess.run(["espeak-ng", "-w", str(speech), SPEECH], check=True)
    else:
        shutil.copyfile(MOSI_WAV, speech)
    clip = folder / f"clip_{seconds}s.mp4"
    ffmpeg("-loop", "1", "-framerate", "25", "-i", str(face_png(folder / "face.png")), "-stream_loop", "-1", "-i", str(speech),
           "-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip))
    return clip


def direct_baselines(clip: Path, asr, settings) -> dict[str, float]:
    """The libraries called directly on the same decoded audio, with the same settings."""
    audio = load_audio(probe(clip))
    start = time.perf_counter()
    segments, _ = whisper_model(asr.model, asr.compute_type, asr.device, torch.get_num_threads()).transcribe(
        audio, language=asr.language or None, beam_size=asr.beam_size, vad_filter=asr.vad, word_timestamps=True)
    list(segments)
    transcribe = time.perf_counter() - start
    start = time.perf_counter()
    smile(settings.audio.feature_set).process_signal(audio, SAMPLE_RATE)
    return {"transcribe": transcribe, "acoustic": time.perf_counter() - start}


def timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, nargs="+", default=[10, 60])
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    args = parser.parse_args()
    sections = load_params(args.params)
    asr, settings = transcribe_config(sections.get("transcribe")), features_config(sections.get("features"))
    with tempfile.TemporaryDirectory() as tmp:
        clips = {s: make_clip(Path(tmp), s) for s in args.seconds}
        extract_clip(ClipInput(clips[min(clips)]), asr, settings)  # warm-up: models load here
        print(f"{'clip':>6} {'step':>11} {'s/s video':>10} {'direct':>8}")
        for seconds, clip in clips.items():
            start = time.perf_counter()
            extraction = extract_clip(ClipInput(clip), asr, settings)
            total = time.perf_counter() - start
            direct = direct_baselines(clip, asr, settings)
            for step, spent in extraction.seconds.items():
                baseline = f"{direct[step] / seconds:8.3f}" if step in direct else ""
                print(f"{seconds:>5}s {step:>11} {spent / seconds:10.3f} {baseline}")
            words = len(extraction.clip.transcript.words)
            print(f"{seconds:>5}s {'TOTAL':>11} {total / seconds:10.3f}   ({words} words; target <= 0.5)")
        if settings.face.expression_model:  # the face pass with and without its expression network, in turn
            without = dataclasses.replace(settings.face, expression_model="")
            print(f"\n{'clip':>6} {'face pass':>24} {'s/s video':>10}  (median of 3, target <= 0.3 at {settings.face.fps:g} fps)")
            for seconds, clip in clips.items():
                for name, face in (("geometry only", without), (f"+ expression ({settings.face.expression_model})", settings.face)):
                    spent = sorted(timed(lambda: face_features(probe(clip), face)) for _ in range(3))[1]
                    print(f"{seconds:>5}s {name:>24} {spent / seconds:10.3f}")


if __name__ == "__main__":
    main()
