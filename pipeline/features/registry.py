"""Every extractor the pipeline runs, by the name params.yaml gives it: `transcribe.backend`,
`features.text.backend`, `features.audio.backend` and `features.face.backend`.

Each backend is a few plain functions in its own module, listed here on one line; its settings are
its section's keys in params.yaml. docs/extending.md says which files a new one touches. The names
are checked here (config.py stays free of the extractors' imports): by `check_backends` as the
commands read params, and again where a backend is looked up.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .acoustic import acoustic_features, acoustic_names, acoustic_width
from .clip import ModalityFeatures, Transcript
from .config import AcousticConfig, FaceConfig, FeaturesConfig, TextConfig, TranscribeConfig, check_choice
from .face import face_features, face_model_digest, face_width
from .face_detectors import DETECTORS
from .face_pyfeat import pyfeat_features, pyfeat_width
from .text import text_features, text_width
from .transcribe import transcribe_faster_whisper, transcribe_given, transcribe_whisperx


@dataclass(frozen=True)
class AsrBackend:
    # (audio (samples,) float32 at 16 kHz or None, duration s, settings, the given text or None) -> transcript
    transcribe: Callable[[np.ndarray | None, float, TranscribeConfig, str | None], Transcript]
    needs_audio: bool = True  # False: the words come from label.csv `text`, nothing is listened to


@dataclass(frozen=True)
class Extractor:
    """A feature backend of one modality: the features of its input, and their width without running it."""

    features: Callable[..., ModalityFeatures]  # text: (transcript, settings); audio: (samples, settings); face: (MediaInfo, settings)
    width: Callable[..., int]  # (settings) -> the features' width


@dataclass(frozen=True)
class AcousticBackend(Extractor):
    names: Callable[[AcousticConfig], tuple[str, str]]  # (extractor, model) written for a clip with no audio


@dataclass(frozen=True)
class FaceBackend(Extractor):
    # What of its models the cache key needs beyond the settings (weights a setting does not name).
    digest: Callable[[FaceConfig], str] = lambda settings: ""


ASR = {
    "faster-whisper": AsrBackend(transcribe_faster_whisper),
    "whisperx": AsrBackend(transcribe_whisperx),
    "given": AsrBackend(transcribe_given, needs_audio=False),
}
TEXT = {
    "transformers": Extractor(text_features, text_width),
}
ACOUSTIC = {
    "opensmile": AcousticBackend(acoustic_features, acoustic_width, acoustic_names),
}
FACE = {
    "opencv": FaceBackend(face_features, face_width, face_model_digest),
    "pyfeat": FaceBackend(pyfeat_features, pyfeat_width),
}


def asr_backend(settings: TranscribeConfig) -> AsrBackend:
    return _chosen("transcribe.backend", settings.backend, ASR)


def text_backend(settings: TextConfig) -> Extractor:
    return _chosen("features.text.backend", settings.backend, TEXT)


def acoustic_backend(settings: AcousticConfig) -> AcousticBackend:
    return _chosen("features.audio.backend", settings.backend, ACOUSTIC)


def face_backend(settings: FaceConfig) -> FaceBackend:
    return _chosen("features.face.backend", settings.backend, FACE)


def _chosen(key: str, name: str, registry: dict):
    check_choice(key, name, tuple(registry))
    return registry[name]


def transcribe(audio: np.ndarray | None, duration: float, settings: TranscribeConfig, text: str | None = None) -> Transcript:
    """The transcript of `audio` ((samples,) float32, 16 kHz), or of `text` with backend `given`."""
    backend = asr_backend(settings)
    if backend.needs_audio and audio is None:
        raise ValueError(f"transcribe.backend {settings.backend!r} needs an audio stream")
    return backend.transcribe(audio, duration, settings, text)


def check_backends(asr: TranscribeConfig, settings: FeaturesConfig | None = None) -> None:
    """Every backend (and face detector) the params name exists: the commands call this as they read
    params, so an unknown name is a one-line error naming the key and the known names before any clip runs."""
    asr_backend(asr)
    if settings is None:
        return
    text_backend(settings.text)
    acoustic_backend(settings.audio)
    face_backend(settings.face)
    check_choice("features.face.detector", settings.face.detector, tuple(DETECTORS))
