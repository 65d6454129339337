"""Transcription: the given backend, faster-whisper with a tiny random Whisper, and the real Whisper base."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.features.config import TranscribeConfig
from pipeline.features.media import load_audio, probe
from pipeline.features.registry import transcribe
from pipeline.features.transcribe import spread_words

from .features_support import MOSI_WAV, needs_mosi, tiny_whisper


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory):
    return tiny_whisper(tmp_path_factory.mktemp("whisper"))


def test_given_transcript_spreads_words_over_the_clip():
    transcript = spread_words("it was  really good", 4.0, "en")
    assert [w.word for w in transcript.words] == ["it", "was", "really", "good"]
    assert transcript.words[0].start == 0.0 and transcript.words[-1].end == 4.0
    assert all(a.end == b.start for a, b in zip(transcript.words, transcript.words[1:]))
    lengths = [w.end - w.start for w in transcript.words]
    assert lengths[2] == pytest.approx(3 * lengths[0], abs=1e-3)  # "really" has 3x the letters of "it"


def test_given_backend_needs_a_transcript():
    with pytest.raises(ValueError, match="no transcript was given"):
        transcribe(None, 1.0, TranscribeConfig(backend="given"))


@needs_mosi
def test_tiny_whisper_runs_faster_whisper_decoding_with_word_times(whisper_dir):
    audio = load_audio(probe(MOSI_WAV))[:16_000]  # (16000,) one second of real speech
    settings = TranscribeConfig(model=str(whisper_dir), beam_size=1, language="en", vad=False)
    transcript = transcribe(audio, 1.0, settings)
    assert transcript.language == "en"
    assert transcript.words, "a random model still emits tokens; none means decoding did not run"
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts) and all(0.0 <= w.start <= w.end <= 1.5 for w in transcript.words)


def test_vad_drops_silence(whisper_dir):
    transcript = transcribe(np.zeros(32_000, np.float32), 2.0, TranscribeConfig(model=str(whisper_dir)))
    assert transcript.words == [] and transcript.text == ""


@pytest.mark.slow
@needs_mosi
def test_packaged_whisper_base_transcribes_real_speech():
    info = probe(MOSI_WAV)
    transcript = transcribe(load_audio(info), info.duration, TranscribeConfig())
    assert "really good" in transcript.text.lower()
    assert transcript.language == "en"
    good = [w for w in transcript.words if w.word.lower().strip(".,!") == "good"][0]
    assert 1.5 < good.start < good.end <= info.duration + 0.1
