"""The per-clip cache: one file per (clip content, step, settings), written atomically.

Keys are `<content hash>/<step>-<settings key>`: changing one extractor's settings misses only
that step's entries, rerunning hits them all, and a killed run finds what it finished. Parallel
shards share one cache without clashing, since an entry is only ever replaced by an identical one.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from .clip import ModalityFeatures, Transcript, atomic_save_arrays, atomic_write_bytes, read_transcript, write_transcript


def content_hash(path: Path) -> str:
    """sha256 of the file's bytes, read in 4 MiB blocks (a 1-hour file stays out of memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class PartCache:
    def __init__(self, root: Path):
        self.root = Path(root)

    def folder(self, content: str) -> Path:
        """Where every entry of one clip's content lives."""
        return self.root / content[:2] / content

    def _path(self, content: str, step: str, key: str, suffix: str) -> Path:
        return self.folder(content) / f"{step}-{key}{suffix}"

    def get_transcript(self, content: str, key: str) -> Transcript | None:
        path = self._path(content, "transcript", key, ".json")
        return read_transcript(path) if path.is_file() else None

    def put_transcript(self, content: str, key: str, transcript: Transcript) -> None:
        write_transcript(transcript, self._path(content, "transcript", key, ".json"))

    def get_features(self, content: str, step: str, key: str) -> ModalityFeatures | None:
        path = self._path(content, step, key, ".safetensors")
        if not path.is_file():
            return None
        arrays = load_file(str(path))
        with open(path.with_suffix(".json"), encoding="utf-8") as handle:
            meta = json.load(handle)
        return ModalityFeatures(arrays["values"], arrays["times"], meta["extractor"], meta["model"], meta["settings"],
                                **ModalityFeatures.side_fields(arrays))

    def put_features(self, content: str, step: str, key: str, features: ModalityFeatures) -> None:
        path = self._path(content, step, key, ".safetensors")
        meta = {"extractor": features.extractor, "model": features.model, "settings": features.settings}
        # The metadata goes first and the arrays last: the arrays file marks a complete entry.
        atomic_write_bytes(path.with_suffix(".json"), json.dumps(meta).encode())
        arrays = {"values": np.ascontiguousarray(features.values, np.float32), "times": np.ascontiguousarray(features.times, np.float32)}
        atomic_save_arrays(arrays | features.side_arrays(), path)
