"""Make the embedded demo corpus `raw/demo/`: 30 short clips of synthetic speech over a moving face.

    python scripts/make_demo.py --out raw/demo

The corpus it made is committed; running this script is NOT part of `make demo`, and nothing in the
project needs what it needs:
- `espeak-ng` on PATH (Debian: `apt-get install espeak-ng`) speaks the sentences;
- a Python with scikit-image (the public-domain astronaut photo, `skimage.data.astronaut()`), numpy,
  opencv-python-headless<5 (the Haar face cascade) and imageio-ffmpeg (the ffmpeg binary). Keep them
  out of the project's .venv, e.g.:
      python3.11 -m venv /tmp/demo-venv
      /tmp/demo-venv/bin/pip install scikit-image imageio-ffmpeg "opencv-python-headless<5"
      /tmp/demo-venv/bin/python scripts/make_demo.py --out raw/demo

Layout written (the CH-SIMS / MMSA-FET convention): `label.csv` with
`video_id,clip_id,text,label,mode` and clips at `<out>/<video_id>/<clip_id>.mp4`. Each of the 10
videos is one "speaker" (an espeak-ng voice, speed and pitch, and a mirrored or tinted face) saying
one positive, one negative and one neutral sentence; the split is by video (6 train, 2 valid,
2 test), so no speaker is in two splits and every split holds each polarity equally.
The labels are the sentence author's judgement on MOSI's [-3, 3] scale, not annotators' averages.

Deterministic: fixed seeds, one encoder thread, bit-exact muxing; the same tools give the same bytes.
"""
from __future__ import annotations

import argparse
import csv
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
from skimage import data as skimage_data

SEED = 2024
FPS = 12
SIZE = 160  # output frames are SIZE x SIZE pixels
LEAD = 0.4  # seconds of silence before and after the speech
MIN_SECONDS, MAX_SECONDS = 2.5, 4.8  # inside the 2-5 s the corpus promises
SPLITS = ["train"] * 6 + ["valid"] * 2 + ["test"] * 2  # one entry per video

# (label, sentence): positive 1.0..3.0, negative -1.0..-3.0, neutral -0.6..0.6, as in MOSI.
POSITIVE = [
    (2.8, "I loved this movie, the acting was just wonderful."),
    (3.0, "Honestly, one of the best films I have seen this year."),
    (2.2, "The story was funny and touching, I really enjoyed it."),
    (1.8, "What a great cast, every scene was fun to watch."),
    (2.4, "It was really good, I would happily see it again."),
    (1.6, "The music was beautiful and the ending made me smile."),
    (2.0, "A clever, warm film, and the kids adored it too."),
    (1.2, "I was surprised by how good it was."),
    (2.6, "Brilliant direction, I was hooked the whole time."),
    (1.0, "A pretty nice little movie, worth a rainy afternoon."),
]
NEGATIVE = [
    (-2.8, "This was a complete waste of two hours."),
    (-2.4, "The plot made no sense and the acting was terrible."),
    (-2.2, "I was bored the whole time and nearly walked out."),
    (-3.0, "Honestly, the worst sequel I have ever sat through."),
    (-2.0, "The jokes fell flat and the dialogue was painful."),
    (-1.6, "It dragged on far too long, I was disappointed."),
    (-1.4, "The special effects looked cheap and fake."),
    (-1.2, "I did not like the main character at all."),
    (-2.6, "Such a mess, I would not recommend it to anyone."),
    (-1.0, "Not great, the second half really lost me."),
]
NEUTRAL = [
    (0.0, "The movie is about two brothers who run a bakery."),
    (-0.2, "It came out last summer and runs about two hours."),
    (0.2, "I saw it on a Tuesday with a few friends."),
    (0.0, "Most of the film takes place in a small town."),
    (0.4, "The director also made a documentary a few years ago."),
    (-0.4, "It is based on a novel that I have not read."),
    (0.2, "There is a short scene after the credits."),
    (-0.6, "Some parts were fine and some parts were not."),
    (0.6, "The first half is in black and white."),
    (-0.2, "So that is the basic premise of the story."),
]
VOICES = [  # espeak-ng voice+variant, one per video
    "en-us+m3", "en-gb+f2", "en-gb-scotland+m1", "en-029+f3", "en-gb-x-rp+m5",
    "en-us+f4", "en-gb-x-gbclan+m2", "en-us+m7", "en-gb+f1", "en-us+f2",
]


@dataclass(frozen=True)
class Speaker:
    voice: str  # espeak-ng voice name
    words_per_minute: int
    pitch: int  # espeak-ng 0..99
    mirrored: bool
    tint: tuple[float, float, float]  # per-channel RGB gain


@dataclass(frozen=True)
class Clip:
    video_id: str
    clip_id: str
    text: str
    label: float
    mode: str
    speaker: Speaker
    seed: int  # drives this clip's face motion


def plan_corpus(seed: int = SEED) -> list[Clip]:
    """Ten videos, each one speaker saying one sentence of each polarity in a shuffled order."""
    rng = np.random.default_rng(seed)
    clips = []
    for v, voice in enumerate(VOICES):
        speaker = Speaker(
            voice=voice,
            words_per_minute=int(rng.integers(150, 176)),
            pitch=int(rng.integers(35, 66)),
            mirrored=v % 2 == 1,
            tint=tuple(float(g) for g in rng.uniform(0.9, 1.1, size=3)),
        )
        sentences = [POSITIVE[v], NEGATIVE[v], NEUTRAL[v]]
        for c, i in enumerate(rng.permutation(3)):
            label, text = sentences[i]
            clips.append(Clip(f"demo{v + 1:02d}", str(c + 1), text, label, SPLITS[v], speaker, seed + 10 * v + c))
    return clips


def face_window(image: np.ndarray) -> tuple[float, float, float]:
    """(center x, center y, side) of a square around the largest Haar face, with room to move."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    faces = cascade.detectMultiScale(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), 1.1, 5)
    if len(faces) == 0:
        raise RuntimeError("no face found in skimage.data.astronaut()")
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    return x + w / 2, y + h / 2, 2.0 * max(w, h)


def animate(
    image: np.ndarray, window: tuple[float, float, float], speaker: Speaker, frames: int, seed: int
) -> np.ndarray:
    """(frames, SIZE, SIZE, 3) uint8: the face with a slow zoom, pan and brightness drift.

    The motion is smooth (sums of slow sines with random phases), so the vision stream changes
    from frame to frame like a talking head, not like noise, and the face stays in view.
    """
    rng = np.random.default_rng(seed)
    cx, cy, side = window
    t = np.arange(frames) / FPS  # (frames,) seconds
    phases = rng.uniform(0, 2 * np.pi, size=4)
    zoom = 1.0 + 0.06 * np.sin(2 * np.pi * 0.4 * t + phases[0])  # (frames,)
    dx = 0.04 * side * np.sin(2 * np.pi * 0.3 * t + phases[1])
    dy = 0.03 * side * np.sin(2 * np.pi * 0.5 * t + phases[2])
    light = 1.0 + 0.08 * np.sin(2 * np.pi * 0.25 * t + phases[3])
    gain = np.asarray(speaker.tint, dtype=np.float32)  # (3,)
    out = np.empty((frames, SIZE, SIZE, 3), dtype=np.uint8)
    for i in range(frames):
        half = side / zoom[i] / 2
        left, top = cx + dx[i] - half, cy + dy[i] - half
        # An affine warp maps the moving square window onto the SIZE x SIZE frame.
        scale = SIZE / (2 * half)
        warp = np.float32([[scale, 0, -left * scale], [0, scale, -top * scale]])
        frame = cv2.warpAffine(image, warp, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frame = np.clip(frame.astype(np.float32) * gain * light[i], 0, 255).astype(np.uint8)
        out[i] = frame[:, ::-1] if speaker.mirrored else frame
    return out


def speak(clip: Clip, wav: Path) -> float:
    """Write the clip's sentence as speech to `wav`; return its length in seconds."""
    s = clip.speaker
    subprocess.run(
        ["espeak-ng", "-v", s.voice, "-s", str(s.words_per_minute), "-p", str(s.pitch), "-w", str(wav), clip.text],
        check=True,
    )
    with wave.open(str(wav)) as w:
        return w.getnframes() / w.getframerate()


def video_codec(ffmpeg: str) -> list[str]:
    """H.264 where this ffmpeg has libx264, else MPEG-4 part 2."""
    encoders = subprocess.run([ffmpeg, "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    if " libx264 " in encoders:
        return ["-c:v", "libx264", "-preset", "slow", "-crf", "26", "-pix_fmt", "yuv420p"]
    return ["-c:v", "mpeg4", "-q:v", "6", "-pix_fmt", "yuv420p"]


def encode(ffmpeg: str, codec: list[str], frames: np.ndarray, wav: Path, seconds: float, out: Path) -> None:
    """Mux raw RGB frames (stdin) and the speech, padded with LEAD silence, into a small .mp4."""
    lead_ms = int(LEAD * 1000)
    cmd = [
        ffmpeg, "-y", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{SIZE}x{SIZE}", "-r", str(FPS), "-i", "pipe:",
        "-i", str(wav),
        "-af", f"adelay={lead_ms}:all=1,apad", "-t", f"{seconds:.3f}",
        *codec, "-threads", "1",
        "-c:a", "aac", "-b:a", "32k", "-ac", "1", "-ar", "16000",
        "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
        "-movflags", "+faststart", str(out),
    ]
    subprocess.run(cmd, input=frames.tobytes(), check=True)


def face_detection_rate(ffmpeg: str, clips: list[Path]) -> tuple[int, int]:
    """(frames with a Haar face, frames) over the encoded clips, decoded as the pipeline will see them."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    found = total = 0
    for path in clips:
        raw = subprocess.run(
            [ffmpeg, "-loglevel", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "gray", "pipe:"],
            capture_output=True, check=True,
        ).stdout
        for frame in np.frombuffer(raw, dtype=np.uint8).reshape(-1, SIZE, SIZE):
            found += len(cascade.detectMultiScale(frame, 1.1, 5)) > 0
            total += 1
    return found, total


def write_labels(clips: list[Clip], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["video_id", "clip_id", "text", "label", "mode"])
        for c in clips:
            writer.writerow([c.video_id, c.clip_id, c.text, f"{c.label:.1f}", c.mode])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("raw/demo"), help="corpus folder (default raw/demo)")
    out: Path = parser.parse_args().out

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    codec = video_codec(ffmpeg)
    image = skimage_data.astronaut()  # (512, 512, 3) uint8, public domain (NASA)
    window = face_window(image)
    clips = plan_corpus()
    paths = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, clip in enumerate(clips, 1):
            wav = Path(tmp) / "speech.wav"
            speech = speak(clip, wav)
            seconds = max(MIN_SECONDS, speech + 2 * LEAD)
            if seconds > MAX_SECONDS:
                raise SystemExit(f"{clip.video_id}/{clip.clip_id}: '{clip.text}' lasts {speech:.1f} s; shorten it")
            frames = animate(image, window, clip.speaker, round(seconds * FPS), clip.seed)
            path = out / clip.video_id / f"{clip.clip_id}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            encode(ffmpeg, codec, frames, wav, seconds, path)
            paths.append(path)
            print(f"[{n:2d}/{len(clips)}] {path}  {seconds:.2f} s  {clip.label:+.1f}  {clip.speaker.voice}", flush=True)
    write_labels(clips, out / "label.csv")

    found, total = face_detection_rate(ffmpeg, paths)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{len(clips)} clips, {size / 1e6:.2f} MB in {out}")
    print(f"Haar face found in {found}/{total} frames ({found / total:.1%})")


if __name__ == "__main__":
    main()
