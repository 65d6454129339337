"""One clip in, its transcript and three feature sequences out: the code behind both
`pipeline extract` and the dataset stages, so a new clip gets exactly the stage's features.

A modality that cannot exist for a clip (no audio stream, no video stream, an empty transcript)
is kept with zero rows (`present: false`) and a warning; a clip fails only when nothing usable
can be read from it. Every requested modality thus appears in `features.json`.
"""
from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..transcripts import keyed
from .align import align_to_words
from .cache import PartCache, content_hash, text_hash
from .clip import ClipFeatures, ModalityFeatures, Transcript
from .config import FeaturesConfig, TranscribeConfig, settings_key
from .media import MediaInfo, load_audio, probe
from .registry import acoustic_backend, asr_backend, check_backends, face_backend, text_backend, transcribe
from .text import CACHE_VERSION as TEXT_CACHE_VERSION
from .transcribe import UNKNOWN_LANGUAGE, spread_words

STEPS = ("probe", "audio", "transcribe", "text", "acoustic", "face", "align")


class StepFailed(ValueError):
    """A clip that could not be extracted; `step` names where (one of STEPS, or "input")."""

    def __init__(self, step: str, message: str):
        super().__init__(message)
        self.step = step

    def __reduce__(self):  # back from a worker process: pickle would rebuild it from `args` (the message) alone
        return StepFailed, (self.step, str(self))


@dataclass
class ClipInput:
    media: Path | None  # None: a text-only clip (label.csv `text`, no clip file)
    text: str | None = None  # the given transcript, for transcribe backend `given`
    duration: float = 0.0  # seconds, for text-only clips (label.csv end - start)
    transcript: Transcript | None = None  # already transcribed (the transcribe stage's output)
    transcripts: dict[str, str] = field(default_factory=dict)  # other transcripts (source -> text): modalities t@<source>


@dataclass
class Extraction:
    clip: ClipFeatures
    seconds: dict[str, float] = field(default_factory=dict)  # step -> seconds spent (cache hits ~0)
    warnings: list[str] = field(default_factory=list)
    key: str = ""  # changes exactly when any part of the clip's features would change


def content_of(source: ClipInput) -> str:
    """The cache's name for a clip: the hash of its file, or of its text for a text-only clip."""
    return content_hash(source.media) if source.media is not None else text_hash(source.text or "")


class _Clip:
    """The media of one clip, read only when a step needs it, with the time each step takes."""

    def __init__(self, source: ClipInput, cache: PartCache | None):
        self.source = source
        self.cache = cache
        self.seconds: dict[str, float] = {}
        self.info: MediaInfo | None = None
        if source.media is not None:
            with self.step("probe"):
                self.info = probe(source.media)
        self.name = str(source.media) if source.media is not None else "text-only clip"
        self.duration = self.info.duration if self.info and self.info.duration else source.duration
        self._audio: np.ndarray | None = None
        self.content = content_of(source) if cache is not None else ""

    @contextmanager
    def step(self, name: str):
        start = time.perf_counter()
        try:
            yield
        except StepFailed:
            raise
        except (ValueError, OSError, RuntimeError) as error:
            raise StepFailed(name, str(error) if self.source.media is None or str(self.source.media) in str(error)
                             else f"{self.source.media}: {error}") from error
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    @property
    def has_audio(self) -> bool:
        return self.info is not None and self.info.has_audio

    def audio(self) -> np.ndarray:
        if self._audio is None:
            with self.step("audio"):
                self._audio = load_audio(self.info)
                self.duration = self.duration or len(self._audio) / 16_000
        return self._audio

    def cached(self, step: str, key: str, compute) -> ModalityFeatures:
        found = self.cache.get_features(self.content, step, key) if self.cache else None
        if found is None:
            found = compute()
            if self.cache:
                self.cache.put_features(self.content, step, key, found)
        return found


def extract_clip(source: ClipInput, asr: TranscribeConfig, settings: FeaturesConfig, cache: PartCache | None = None) -> Extraction:
    """The clip's features; raises StepFailed naming the step and the file when nothing usable is left."""
    if source.media is None:
        asr = replace(asr, backend="given")  # a text-only clip has nothing else to transcribe
    check_backends(asr, settings)
    clip = _Clip(source, cache)
    warnings: list[str] = []
    wanted = settings.modalities if source.media is not None else ("t",)
    keys: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The face step reads its own frames and needs nothing else: it runs beside transcription
        # (both spend their time in native code that releases the GIL).
        has_video = "v" in wanted and clip.info is not None and clip.info.has_video
        if has_video:
            keys["v"] = settings_key(settings.face, face_backend(settings.face).digest(settings.face))
            faces = pool.submit(_face_step, clip, keys["v"], settings)
        transcript, keys["transcript"] = transcript_of(clip, asr, warnings)
        modalities = _text_and_audio(clip, transcript, asr, settings, wanted, keys, warnings)
        if "t" in wanted:
            modalities |= _other_transcripts(clip, settings, keys)
        if has_video:
            modalities["v"] = faces.result()
            if not modalities["v"].face.any():
                warnings.append(f"no face in any of {len(modalities['v'].values)} frames: face marked missing")
        elif "v" in wanted:
            warnings.append("no video stream: face marked missing")
            modalities["v"] = missing(settings.face.backend, "")
    if settings.align:
        with clip.step("align"):
            modalities = {m: f if m == "t" or not f.present else align_to_words(f, transcript.words) for m, f in modalities.items()}
        keys["align"] = "words"
    key = settings_key(keys, clip.content)
    return Extraction(ClipFeatures(transcript, modalities, round(float(clip.duration), 3)), clip.seconds, warnings, key)


def _face_step(clip: _Clip, key: str, settings: FeaturesConfig) -> ModalityFeatures:
    with clip.step("face"):
        return clip.cached("v", key, lambda: face_backend(settings.face).features(clip.info, settings.face))


def _text_and_audio(clip: _Clip, transcript: Transcript, asr: TranscribeConfig, settings: FeaturesConfig,
                    wanted: tuple[str, ...], keys: dict[str, str], warnings: list[str]) -> dict[str, ModalityFeatures]:
    modalities: dict[str, ModalityFeatures] = {}
    if "t" in wanted:
        keys["t"] = settings_key(settings.text, _digest(transcript), TEXT_CACHE_VERSION)
        with clip.step("text"):
            modalities["t"] = clip.cached("t", keys["t"], lambda: text_backend(settings.text).features(transcript, settings.text))
        if not transcript.words and (clip.has_audio or not asr_backend(asr).needs_audio):
            warnings.append("empty transcript (silence?): text marked missing")
    if "a" in wanted:
        if clip.has_audio:
            keys["a"] = settings_key(settings.audio)
            audio = None if clip.cache is None else clip.cache.get_features(clip.content, "a", keys["a"])
            if audio is None:
                samples = clip.audio()
                with clip.step("acoustic"):
                    audio = clip.cached("a", keys["a"], lambda: acoustic_backend(settings.audio).features(samples, settings.audio))
            modalities["a"] = audio
        else:
            modalities["a"] = missing(*acoustic_backend(settings.audio).names(settings.audio))
    return modalities


def _other_transcripts(clip: _Clip, settings: FeaturesConfig, keys: dict[str, str]) -> dict[str, ModalityFeatures]:
    """The text features of each other transcript (label.csv `text_<source>`), its words spread over
    the clip as a given transcript's are: modality `t@<source>`. An empty one has zero rows."""
    modalities = {}
    for source, text in clip.source.transcripts.items():
        name = keyed("t", source)
        other = spread_words(text, clip.duration, UNKNOWN_LANGUAGE)
        keys[name] = settings_key(settings.text, _digest(other), TEXT_CACHE_VERSION)
        with clip.step("text"):
            modalities[name] = clip.cached(name, keys[name], lambda: text_backend(settings.text).features(other, settings.text))
    return modalities


def transcript_of(clip: _Clip, asr: TranscribeConfig, warnings: list[str]) -> tuple[Transcript, str]:
    """The clip's transcript (given, cached, or transcribed now) and its cache key."""
    hears = asr_backend(asr).needs_audio
    given = None if hears else clip.source.text
    key = settings_key(asr, given)
    if clip.source.transcript is not None:
        return clip.source.transcript, key
    found = clip.cache.get_transcript(clip.content, key) if clip.cache else None
    if found is not None:
        return found, key
    if hears and not clip.has_audio:
        warnings.append("no audio stream: audio and text marked missing")
        return Transcript("", "und", []), key
    audio = clip.audio() if hears else None
    with clip.step("transcribe"):
        transcript = transcribe(audio, clip.duration, asr, clip.source.text)
    if clip.cache:
        clip.cache.put_transcript(clip.content, key, transcript)
    return transcript, key


def transcribe_clip(source: ClipInput, asr: TranscribeConfig, cache: PartCache | None = None) -> Extraction:
    """Only the transcript (the transcribe stage): an Extraction with no modalities."""
    if source.media is None:
        asr = replace(asr, backend="given")
    clip = _Clip(source, cache)
    warnings: list[str] = []
    transcript, key = transcript_of(clip, asr, warnings)
    if not transcript.words and not warnings:
        warnings.append("empty transcript (silence?)")
    return Extraction(ClipFeatures(transcript, {}, round(float(clip.duration), 3)), clip.seconds, warnings, settings_key(key, clip.content))


def feature_widths(settings: FeaturesConfig) -> dict[str, int]:
    """The width of each modality's features these settings make, read from the models' own
    descriptions (nothing is extracted). py-feat's columns are known only once it runs."""
    face = face_backend(settings.face).width(settings.face)  # first: py-feat's fails before a model is read
    return {"t": text_backend(settings.text).width(settings.text), "v": face,
            "a": acoustic_backend(settings.audio).width(settings.audio)}


def missing(extractor: str, model: str) -> ModalityFeatures:
    """A modality this clip cannot have: zero rows, `present: false`, width 0."""
    return ModalityFeatures(np.zeros((0, 0), np.float32), np.zeros((0, 2), np.float32), extractor, model)


def _digest(transcript: Transcript) -> str:
    return hashlib.sha256(json.dumps(asdict(transcript), sort_keys=True).encode()).hexdigest()
