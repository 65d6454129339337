"""Media: probe a file's streams, decode 16 kHz mono audio, and stream video frames at a set rate.

Everything runs through ffmpeg-python with imageio-ffmpeg's binary (no system ffmpeg or
ffprobe is needed). Video frames are streamed one at a time, so a 1-hour file keeps memory
bounded by one frame; audio is held whole at 16 kHz float32 (about 230 MB per hour).
"""
from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import imageio_ffmpeg
import numpy as np

SAMPLE_RATE = 16_000
# What the dataset stages and `pipeline predict --video <folder>` take as a clip (audio-only files give
# text and audio with the face marked missing).
MEDIA_SUFFIXES = {".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".flv",
                  ".wav", ".mp3", ".flac", ".m4a", ".ogg", ".opus", ".aac"}


class MediaError(ValueError):
    """A file ffmpeg cannot read, or one lacking what a step needs; the message names the file."""


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    duration: float  # seconds; 0.0 when the container does not say
    has_audio: bool
    has_video: bool
    width: int = 0  # displayed size, rotation applied
    height: int = 0


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def probe(path: Path) -> MediaInfo:
    """Streams and duration from `ffmpeg -i` (there is no ffprobe beside imageio-ffmpeg's binary)."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: empty file (0 bytes)")
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True, text=True, errors="replace"
    )
    log = result.stderr
    if "Input #0" not in log:
        raise MediaError(f"{path}: not a readable media file ({_last_error(log, path)})")
    video = re.search(r"Stream #\d+:\d+.*?: Video: (?!.*attached pic).*?, (\d{2,5})x(\d{2,5})", log)
    has_audio = re.search(r"Stream #\d+:\d+.*?: Audio: ", log) is not None
    if video is None and not has_audio:
        raise MediaError(f"{path}: no audio or video stream")
    duration = re.search(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", log)
    seconds = 0.0 if duration is None else int(duration[1]) * 3600 + int(duration[2]) * 60 + float(duration[3])
    width, height = (int(video[1]), int(video[2])) if video else (0, 0)
    rotation = re.search(r"rotation of (-?[\d.]+) degrees|rotate\s*:\s*(-?\d+)", log)
    if rotation and round(abs(float(rotation[1] or rotation[2]))) % 180 == 90:
        width, height = height, width
    return MediaInfo(path, seconds, has_audio, video is not None, width, height)


def _last_error(log: str, path: Path) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip() and "At least one output" not in line]
    if not lines:
        return "ffmpeg gave no reason"
    # ffmpeg prefixes the reason with the path (which may hold odd characters): keep the reason only.
    return lines[-1].split(": ")[-1] if str(path) in lines[-1] else lines[-1]


def load_audio(info: MediaInfo) -> np.ndarray:
    """The audio track as (samples,) float32 at 16 kHz mono, in [-1, 1]."""
    if not info.has_audio:
        raise MediaError(f"{info.path}: no audio stream")
    try:
        raw, _ = (
            ffmpeg.input(str(info.path))
            .output("pipe:", format="f32le", acodec="pcm_f32le", ac=1, ar=SAMPLE_RATE, vn=None)
            .global_args("-nostdin", "-loglevel", "error")
            .run(cmd=ffmpeg_exe(), capture_stdout=True, capture_stderr=True)
        )
    except ffmpeg.Error as error:
        raise MediaError(f"{info.path}: audio could not be decoded ({_last_error(error.stderr.decode(errors='replace'), info.path)})") from None
    audio = np.frombuffer(raw, dtype=np.float32)  # (samples,)
    if audio.size == 0:
        raise MediaError(f"{info.path}: the audio stream holds no samples")
    return audio


def frame_size(info: MediaInfo, max_side: int) -> tuple[int, int]:
    """(width, height) after scaling the longer side down to `max_side`, both even."""
    scale = min(1.0, max_side / max(info.width, info.height))
    return max(2, round(info.width * scale / 2) * 2), max(2, round(info.height * scale / 2) * 2)


def iter_frames(info: MediaInfo, fps: float, max_side: int) -> Iterator[tuple[float, np.ndarray]]:
    """(time in seconds, (H, W, 3) uint8 BGR frame) at `fps`, one frame in memory at a time."""
    if not info.has_video:
        raise MediaError(f"{info.path}: no video stream")
    width, height = frame_size(info, max_side)
    command = (
        ffmpeg.input(str(info.path))
        .filter("fps", fps=fps)
        .filter("scale", width, height)
        .output("pipe:", format="rawvideo", pix_fmt="bgr24", an=None)
        .global_args("-nostdin", "-loglevel", "error")
        .compile(cmd=ffmpeg_exe())
    )
    # stderr goes to a file: a corrupt stream can log more than a pipe holds and stall ffmpeg.
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log)
    size = width * height * 3
    index = 0
    try:
        while True:
            buffer = process.stdout.read(size)
            if len(buffer) < size:
                break
            yield index / fps, np.frombuffer(buffer, np.uint8).reshape(height, width, 3)
            index += 1
        if process.wait() != 0 and index == 0:
            log.seek(0)
            reason = _last_error(log.read().decode(errors="replace"), info.path)
            raise MediaError(f"{info.path}: video could not be decoded ({reason})")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        log.close()
