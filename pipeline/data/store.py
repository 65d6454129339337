"""The tensor store on disk: its manifest, and `.npy` files written row by row and read by mmap.

Layout (one folder per split, a manifest at the root):
    manifest.json
    <split>/<m>.npy            (N, T_m, d_m) float32|float16, zero-padded after lengths[m]
    <split>/<m>_lengths.npy    (N,) int64, valid steps; 0 = the clip lacks modality m
    <split>/t_tokens.npy       (N, T_t) int64, the text rows' input ids, where the features kept them
    <split>/t_hidden.npy       (N, T_t, d_t) the text encoder's states below its top `text_hidden` layers, where kept
    <split>/t@<s>.npy, t@<s>_lengths.npy, t_tokens@<s>.npy, t_hidden@<s>.npy
                               the same for each other transcript source s (manifest `transcripts`)
    <split>/present.npy        (N, M) bool, in manifest.modalities order
    <split>/labels.npy         (N,) float32 (and label_T|A|V.npy where the dataset gives them)
    <split>/ids.json           N clip ids "<video_id>/<clip_id>"
Values are stored raw; the loader normalizes with the train statistics in the manifest.
"""
from __future__ import annotations

import json
import mmap
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

MANIFEST = "manifest.json"
STORE_VERSION = 1
HEADER_BYTES = 128  # fixed, so the row count can be written once the rows are


@dataclass(frozen=True)
class Norm:
    mean: list[float]  # (d,)
    std: list[float]  # (d,), 1 where a feature is constant on train


@dataclass(frozen=True)
class Manifest:
    modalities: tuple[str, ...]
    dims: dict[str, int]
    dataset: str  # mosi | mosei | sims | simsv2
    label_range: tuple[float, float]
    splits: dict[str, int]  # split -> clips
    features: dict[str, dict[str, Any]]  # m -> extractor, model, settings: what predict must repeat
    max_lengths: dict[str, int]
    truncate: dict[str, str]  # m -> head | tail | uniform
    dtype: str  # float32 | float16
    norm: dict[str, Norm]  # m -> train statistics; absent = not normalized
    sublabels: tuple[str, ...] = ()  # among "T", "A", "V"
    text_tokens: bool = False  # t_tokens.npy is there: the text encoder can be fine-tuned on this store
    text_hidden: int = 0  # k > 0: t_hidden.npy holds the states below the encoder's top k layers (train.tune_text_layers)
    transcripts: tuple[str, ...] = ()  # other transcript sources, beside the default `text` (pipeline/transcripts.py)
    source: dict[str, Any] = field(default_factory=dict)  # format, path, file fingerprints
    # The transcribe and features settings of a store built by this pipeline's extraction, which a
    # checkpoint keeps so predict can repeat them; None for imported features (MMSA, CSD).
    extraction: dict[str, Any] | None = None
    skipped: list[str] = field(default_factory=list)  # clips left out, with why
    key: str = ""  # fingerprint of inputs and settings: an equal key means nothing to rebuild
    version: int = STORE_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)


def read_manifest(store_dir: str | Path) -> Manifest:
    path = Path(store_dir) / MANIFEST
    if not path.is_file():
        raise ValueError(f"{path}: not found (not a tensor store; run `pipeline tensors`)")
    try:
        raw = json.loads(path.read_text())
        if raw.get("version") != STORE_VERSION:
            raise ValueError(f"store version {raw.get('version')}, this code reads {STORE_VERSION}; rebuild it")
        raw["norm"] = {m: Norm(**n) for m, n in raw["norm"].items()}
        raw.setdefault("transcripts", ())  # stores written before several transcripts
        for key in ("modalities", "label_range", "sublabels", "transcripts"):
            raw[key] = tuple(raw[key])
        return Manifest(**raw)
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: unreadable manifest ({error})") from None


class RowWriter:
    """Appends (T, d) rows to an `.npy` file without holding them: the build's memory stays flat."""

    def __init__(self, path: Path, row_shape: tuple[int, ...], dtype: str):
        self.path, self.row_shape, self.dtype = path, row_shape, np.dtype(dtype)
        self.rows = 0
        self.handle: BinaryIO = open(path, "wb")
        self.handle.write(b"\0" * HEADER_BYTES)

    def append(self, row: np.ndarray) -> None:
        self.handle.write(np.ascontiguousarray(row, dtype=self.dtype).tobytes())
        self.rows += 1

    def close(self) -> None:
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": (self.rows, *self.row_shape)}
        text = repr(header).encode("latin1")
        pad = HEADER_BYTES - len(np.lib.format.magic(1, 0)) - 2 - len(text) - 1
        if pad < 0:
            raise ValueError(f"{self.path}: header {text!r} too long")
        self.handle.seek(0)
        self.handle.write(np.lib.format.magic(1, 0) + struct.pack("<H", HEADER_BYTES - 10) + text + b" " * pad + b"\n")
        self.handle.close()


class MappedArray:
    """A read-only `.npy` array over mmap, like np.load(mmap_mode="r").

    The mmap is ours so that `release()` can drop the pages this process has touched: otherwise a
    whole epoch over a 7 GB store leaves 7 GB of file pages counted in the process's RSS.
    """

    def __init__(self, path: Path):
        with open(path, "rb") as handle:
            try:
                version = np.lib.format.read_magic(handle)
                reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, fortran, dtype = reader(handle)
            except ValueError as error:
                raise ValueError(f"{path}: not an .npy array ({error})") from None
            offset = handle.tell()
            self.map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        if fortran:
            raise ValueError(f"{path}: Fortran-ordered arrays are not read")
        count = int(np.prod(shape))
        if len(self.map) < offset + count * dtype.itemsize:
            raise ValueError(f"{path}: truncated ({len(self.map)} bytes for shape {shape})")
        self.array = np.frombuffer(self.map, dtype=dtype, count=count, offset=offset).reshape(shape)

    def release(self) -> None:
        self.map.madvise(mmap.MADV_DONTNEED)
