"""The ASR backends (params `transcribe.backend`, registry.ASR): words with start/end times from
faster-whisper (default), whisperx, or a given transcript. Each takes (audio, duration, settings, text).

faster-whisper runs with its bundled Silero VAD and word timestamps. whisperx is the same
engine plus wav2vec2 forced alignment; it pins torch~=2.8, so it imports only in its own
environment (.venv-whisperx, built by scripts/envs/whisperx.sh). `given` takes the transcript
from label.csv and spreads the words over the clip in proportion to their length (a forced
alignment needs an aligner, which only the whisperx environment has).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .clip import Transcript, Word
from .config import TranscribeConfig
from .models import resolve_model

UNKNOWN_LANGUAGE = "und"  # ISO 639-2 "undetermined"


def transcribe_given(audio: None, duration: float, settings: TranscribeConfig, text: str | None) -> Transcript:
    """label.csv's `text` (or --text), its words spread over the clip."""
    if text is None:
        raise ValueError("transcribe.backend is 'given' but no transcript was given (label.csv `text` or --text)")
    return spread_words(text, duration, settings.language or UNKNOWN_LANGUAGE)


def spread_words(text: str, duration: float, language: str) -> Transcript:
    """Words of `text` laid end to end over [0, duration], each as long as its share of the letters."""
    tokens = text.split()
    bounds = np.concatenate([[0], np.cumsum([len(t) for t in tokens])]) / max(1, sum(len(t) for t in tokens)) * duration
    words = [Word(t, round(float(bounds[i]), 3), round(float(bounds[i + 1]), 3)) for i, t in enumerate(tokens)]
    return Transcript(" ".join(tokens), language, words)


@lru_cache(maxsize=2)
def whisper_model(name: str, compute_type: str, device: str, threads: int):
    """A faster-whisper model, loaded once per process, on this process's share of the cores
    (CTranslate2 would otherwise start 4 threads whatever the machine)."""
    from faster_whisper import WhisperModel

    return WhisperModel(str(resolve_model(name, "transcribe.model")), device=device, compute_type=compute_type,
                        cpu_threads=threads)


def transcribe_faster_whisper(audio: np.ndarray, duration: float, settings: TranscribeConfig, text: None) -> Transcript:
    import torch  # its thread count is the process's share, set by pipeline.threads

    model = whisper_model(settings.model, settings.compute_type, settings.device, torch.get_num_threads())
    segments, info = model.transcribe(
        audio,
        language=settings.language or None,
        beam_size=settings.beam_size,
        vad_filter=settings.vad,
        word_timestamps=True,
    )
    segments = list(segments)  # the generator does the decoding
    words = [Word(w.word.strip(), round(float(w.start), 3), round(float(w.end), 3)) for s in segments for w in (s.words or []) if w.word.strip()]
    text = " ".join(s.text.strip() for s in segments if s.text.strip())
    return Transcript(text, info.language, words)


def transcribe_whisperx(audio: np.ndarray, duration: float, settings: TranscribeConfig, text: None) -> Transcript:
    try:
        import whisperx
    except ImportError:
        raise ValueError(
            "transcribe.backend whisperx: whisperx is not installed here; it pins torch~=2.8, so it has its own "
            "environment: build it with `bash scripts/envs/whisperx.sh` and run `.venv-whisperx/bin/pipeline`"
        ) from None
    model = whisperx.load_model(
        str(resolve_model(settings.model, "transcribe.model")),
        device=settings.device,
        compute_type=settings.compute_type,
        language=settings.language or None,
        asr_options={"beam_size": settings.beam_size},
    )
    result = model.transcribe(audio, batch_size=1)
    language = result.get("language") or settings.language or UNKNOWN_LANGUAGE
    segments = result["segments"]
    if settings.aligner:
        aligner, metadata = whisperx.load_align_model(
            language_code=language, device=settings.device, model_name=str(resolve_model(settings.aligner, "transcribe.aligner"))
        )
        try:
            segments = whisperx.align(segments, aligner, metadata, audio, settings.device)["segments"]
        except LookupError as error:  # NLTK data that whisperx would otherwise download
            first = next((line.strip() for line in str(error).splitlines() if "Resource" in line), "NLTK data missing")
            raise ValueError(f"transcribe.aligner: {first}; scripts/envs/whisperx.sh writes it into .venv-whisperx") from None
    words: list[Word] = []
    for segment in segments:
        if segment.get("words"):
            words += _timed_words(segment["words"], segment["start"], segment["end"])
        else:  # no aligner, or one that could not place this segment: its words share its span
            spread = spread_words(segment["text"], segment["end"] - segment["start"], language).words
            words += [Word(w.word, round(w.start + segment["start"], 3), round(w.end + segment["start"], 3)) for w in spread]
    text = " ".join(s["text"].strip() for s in segments if s["text"].strip())
    return Transcript(text, language, words)


def _timed_words(aligned: list[dict], start: float, end: float) -> list[Word]:
    """Aligned words; one the aligner could not place (digits, symbols) takes its neighbours' gap."""
    words = []
    for i, w in enumerate(aligned):
        begin = w.get("start", words[-1].end if words else start)
        finish = w.get("end", next((x["start"] for x in aligned[i + 1 :] if "start" in x), end))
        words.append(Word(w["word"].strip(), round(float(begin), 3), round(float(max(begin, finish)), 3)))
    return [w for w in words if w.word]
