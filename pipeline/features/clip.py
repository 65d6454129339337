"""One clip's extracted features: the contract between extraction and the tensor store.

A clip folder holds `transcript.json`, `features.json` (per modality: present, dim, frames,
extractor, model, settings, and `tokens` where token ids are kept) and `features.safetensors` (per
modality `<m>` (T, d) float32 and `<m>_times` (T, 2) start/end seconds; for vision also `v_face`
(T,) 1 where a face was found; for text also `t_tokens` (T,) the encoder's input ids, which
fine-tuning the text encoder reads, and with `features.text.top_layers` k, `t_hidden` (T, d) its
states below the top k layers, which tuning only those reads). Another transcript of the clip
(label.csv `text_<source>`) is the modality `t@<source>`, stored like `t`.
Writes are atomic: a killed run never leaves a half-written clip behind.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from ..files import atomic_write

TRANSCRIPT = "transcript.json"
HEADER = "features.json"
ARRAYS = "features.safetensors"
# Beside clips.csv: the transcribe and features settings the clips were made with, so that a model
# trained on them (its checkpoint keeps this record) can score a new video the same way.
EXTRACTION = "extraction.json"


@dataclass
class Word:
    word: str
    start: float  # seconds
    end: float


@dataclass
class Transcript:
    text: str
    language: str
    words: list[Word] = field(default_factory=list)


@dataclass
class ModalityFeatures:
    values: np.ndarray  # (T, d) float32
    times: np.ndarray  # (T, 2) start/end seconds of each row
    extractor: str  # e.g. "opensmile", "transformers", "opencv-haar"
    model: str  # the model or feature set named in params.yaml
    settings: dict[str, Any] = field(default_factory=dict)
    face: np.ndarray | None = None  # vision only: (T,) bool, a face was found in that frame
    tokens: np.ndarray | None = None  # text only: (T,) int64 input ids, one per row
    hidden: np.ndarray | None = None  # text only, with features.text.top_layers k: (T, d) float32 states below the top k layers

    def side_arrays(self) -> dict[str, np.ndarray]:
        """The optional per-row arrays by name, as stored ("face" uint8, "tokens" int64, "hidden" float32)."""
        arrays = {}
        if self.face is not None:
            arrays["face"] = np.ascontiguousarray(self.face, dtype=np.uint8)
        if self.tokens is not None:
            arrays["tokens"] = np.ascontiguousarray(self.tokens, dtype=np.int64)
        if self.hidden is not None:
            arrays["hidden"] = np.ascontiguousarray(self.hidden, dtype=np.float32)
        return arrays

    @staticmethod
    def side_fields(arrays: dict[str, np.ndarray], prefix: str = "") -> dict[str, np.ndarray | None]:
        """`face`, `tokens` and `hidden` keyword arguments from arrays stored by `side_arrays` (under `prefix`)."""
        face = arrays.get(f"{prefix}face")
        return {"face": None if face is None else face.astype(bool), "tokens": arrays.get(f"{prefix}tokens"),
                "hidden": arrays.get(f"{prefix}hidden")}

    @property
    def present(self) -> bool:
        # Face rows with no face in any frame say nothing about the speaker: the modality is
        # missing (weight 0) for training and prediction alike, though its rows stay on disk.
        return len(self.values) > 0 and (self.face is None or bool(self.face.any()))

    @property
    def dim(self) -> int:
        return int(self.values.shape[1])


@dataclass
class ClipFeatures:
    transcript: Transcript
    modalities: dict[str, ModalityFeatures]  # keys among "t", "a", "v"; a missing one is absent
    duration: float = 0.0  # seconds

    def header(self) -> dict[str, Any]:
        return {
            "duration": self.duration,
            "modalities": {
                m: {
                    "present": f.present,
                    "dim": f.dim,
                    "frames": int(len(f.values)),
                    "extractor": f.extractor,
                    "model": f.model,
                    "settings": f.settings,
                    **({"tokens": True} if f.tokens is not None else {}),
                    **({"hidden": True} if f.hidden is not None else {}),
                }
                for m, f in self.modalities.items()
            },
        }


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_save_arrays(arrays: dict[str, np.ndarray], path: Path) -> None:
    """A safetensors file, written atomically."""
    atomic_write(path, lambda tmp: save_file(arrays, tmp))


def write_transcript(transcript: Transcript, path: Path) -> None:
    """`{"text", "language", "words": [{"word", "start", "end"}]}`, atomically."""
    atomic_write_bytes(path, json.dumps(asdict(transcript), ensure_ascii=False, indent=1).encode())


def read_transcript(path: Path) -> Transcript:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    return Transcript(raw["text"], raw["language"], [Word(**w) for w in raw["words"]])


def save_clip(clip: ClipFeatures, folder: Path) -> None:
    """Write the three files; the header goes last, so its presence marks a complete clip."""
    folder = Path(folder)
    arrays: dict[str, np.ndarray] = {}
    for m, f in clip.modalities.items():
        arrays[m] = np.ascontiguousarray(f.values, dtype=np.float32)  # (T, d), T may be 0
        arrays[f"{m}_times"] = np.ascontiguousarray(f.times, dtype=np.float32).reshape(-1, 2)
        arrays |= {f"{m}_{name}": a for name, a in f.side_arrays().items()}
    atomic_save_arrays(arrays, folder / ARRAYS)
    write_transcript(clip.transcript, folder / TRANSCRIPT)
    atomic_write_bytes(folder / HEADER, json.dumps(clip.header(), indent=1).encode())


def load_clip(folder: Path) -> ClipFeatures:
    """Read a clip folder written by `save_clip`; a missing or partial one is a one-line error."""
    folder = Path(folder)
    if not (folder / HEADER).is_file():
        raise ValueError(f"{folder}: no {HEADER} (not an extracted clip, or its extraction did not finish)")
    header = json.loads((folder / HEADER).read_text())
    transcript = read_transcript(folder / TRANSCRIPT)
    arrays = load_file(str(folder / ARRAYS))
    modalities = {}
    for m, info in header["modalities"].items():
        modalities[m] = ModalityFeatures(
            values=arrays[m],
            times=arrays[f"{m}_times"],
            extractor=info["extractor"],
            model=info["model"],
            settings=info["settings"],
            **ModalityFeatures.side_fields(arrays, f"{m}_"),
        )
    return ClipFeatures(transcript, modalities, header.get("duration", 0.0))
