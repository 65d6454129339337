"""Build the tensor store from a dataset: find the importer, check every clip, write the splits.

The build streams: clips are read one at a time and their padded rows appended to the `.npy`
files, so memory stays flat whatever the dataset size (an MMSA pickle excepted: it is in memory
while it is read). The store is built in a temporary folder and renamed into place, so a killed
build leaves the previous store intact; it starts over on the next run. An unchanged key (inputs
and settings) means there is nothing to do.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from safetensors import SafetensorError

from .clips import CLIPS_CSV
from .config import DataConfig, TensorConfig
from .importers import IMPORTERS, importer
from .source import HIDDEN, SPLITS, SUBLABELS, TOKENS, Entry, Source
from ..transcripts import DEFAULT, keyed
from .store import MANIFEST, STORE_VERSION, Manifest, Norm, RowWriter, read_manifest

REQUIRED_SPLITS = ("train", "valid")  # a test split may be held back (MOSI's text set is)
LABEL_SLACK = 1e-6  # scores stored as float32 may overshoot the range by a rounding step
# Wraps the clips as they are read: a command passes its progress bar, the library shows none.
Progress = Callable[[Iterable], Iterable]


def build_store(data: DataConfig, tensors: TensorConfig, out_dir: str | Path | None = None,
                progress: Progress = iter) -> tuple[Manifest, bool]:
    """(the store's manifest, whether it was rebuilt). `out_dir` defaults to tensors.out; `progress`
    wraps the clips as they are written."""
    out_dir = Path(out_dir or tensors.out)
    fmt, path = locate_source(data, tensors)
    hashes = input_hashes(fmt, path, data)
    settings = {"version": STORE_VERSION, "data": asdict(data), "tensors": asdict(tensors) | {"out": None}}
    key = hashlib.sha256(json.dumps({**settings, "hashes": hashes}, sort_keys=True).encode()).hexdigest()
    if (out_dir / MANIFEST).is_file():
        try:
            current = read_manifest(out_dir)
        except ValueError:
            current = None  # an unreadable or older store is rebuilt
        if current is not None and current.key == key:
            return current, False
    source = read_source(fmt, path, data)
    info = {"format": fmt, "path": str(path), "hashes": hashes}
    return write_store(source, data, tensors, out_dir, key=key, source_info=info, progress=progress), True


def locate_source(data: DataConfig, tensors: TensorConfig) -> tuple[str, Path]:
    """(format, path to read). A raw dataset folder (label.csv) is read through the features stage's output."""
    path = Path(data.path)
    if not path.exists():
        raise ValueError(f"data.path: {path} does not exist")
    raw = path.is_dir() and not (path / CLIPS_CSV).is_file() and (path / "label.csv").is_file()
    if data.format != "auto":
        importer(data.format)
        return data.format, Path(tensors.features) if data.format == "features" and raw else path
    found = next((name for name, candidate in IMPORTERS.items() if candidate.finds(path)), None)
    if found:
        return found, path
    if raw:
        return "features", Path(tensors.features)
    raise ValueError(
        f"data.path: cannot tell the format of {path} (expected an MMSA .pkl, a folder of .csd files, "
        f"or a folder with {CLIPS_CSV} or label.csv); set data.format"
    )


def input_hashes(fmt: str, path: Path, data: DataConfig) -> dict[str, str]:
    """Fingerprints of what the store is built from."""
    return importer(fmt).hashes(path, data)


def read_source(fmt: str, path: Path, data: DataConfig) -> Source:
    return importer(fmt).read(path, data)


@dataclass
class SplitRows:
    """The small per-clip arrays of one split, gathered while its feature rows go to disk."""

    ids: list[str] = field(default_factory=list)
    labels: list[float] = field(default_factory=list)
    sublabels: dict[str, list[float]] = field(default_factory=dict)
    lengths: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class RunningStats:
    """Per-feature sums over the valid steps of train, in float64."""

    total: np.ndarray  # (d,)
    squares: np.ndarray  # (d,)
    count: int = 0

    def add(self, x: np.ndarray) -> None:  # x: (L, d)
        x = x.astype(np.float64)
        self.total += x.sum(axis=0)
        self.squares += (x * x).sum(axis=0)
        self.count += len(x)

    def norm(self) -> Norm:
        if self.count == 0:
            return Norm([0.0] * len(self.total), [1.0] * len(self.total))
        mean = self.total / self.count
        std = np.sqrt(np.maximum(self.squares / self.count - mean * mean, 0.0))
        std[std < 1e-6] = 1.0  # a constant feature: leave it centred, unscaled
        return Norm(mean.tolist(), std.tolist())


def write_store(source: Source, data: DataConfig, tensors: TensorConfig, out_dir: Path, *,
                key: str = "", source_info: dict | None = None, progress: Progress = iter) -> Manifest:
    """Check `source` and write it as a store at `out_dir` (replacing what is there); `progress`
    wraps the clips as they are read (the command's progress bar)."""
    out_dir = Path(out_dir)
    modalities = tuple(m for m in data.modalities if m in source.dims)
    check_entries(source.entries, data)
    max_lengths = {
        m: max(1, min(tensors.max_len_of(m), max(e.lengths[m] for e in source.entries))) for m in modalities
    }
    sublabels = tuple(s for s in SUBLABELS if source.entries and s in source.entries[0].sublabels)
    tokens = source.tokens and "t" in modalities
    hidden = source.hidden and "t" in modalities

    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        rows, stats, skipped = write_rows(source, tmp, tensors, modalities, max_lengths, TextArrays(tokens, hidden), sublabels, progress)
        for name in REQUIRED_SPLITS:
            if name not in rows:
                raise ValueError(f"{data.path}: split {name} has no readable clips")
        for name, split in rows.items():
            save_split(tmp / name, split, modalities)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest = Manifest(
        modalities=modalities,
        dims={m: source.dims[m] for m in modalities},
        dataset=data.dataset,
        label_range=data.label_range,
        splits={name: len(rows[name].ids) for name in SPLITS if name in rows},
        features={m: source.features[m] for m in modalities},
        max_lengths=max_lengths,
        truncate={m: tensors.truncate_of(m) for m in modalities},
        dtype=tensors.dtype,
        norm={m: s.norm() for m, s in stats.items()},
        sublabels=sublabels,
        text_tokens=tokens,
        text_hidden=source.features["t"]["settings"].get("top_layers", 0) if hidden else 0,
        transcripts=source.transcripts if "t" in modalities else (),
        source=source_info or {"format": source.format},
        extraction=source.extraction,
        skipped=skipped,
        key=key,
    )
    (tmp / MANIFEST).write_text(manifest.to_json())
    replace_dir(tmp, out_dir)
    return manifest


def write_rows(source: Source, tmp: Path, tensors: TensorConfig, modalities: tuple[str, ...], max_lengths: dict[str, int],
               text: TextArrays, sublabels: tuple[str, ...], progress: Progress
               ) -> tuple[dict[str, SplitRows], dict[str, RunningStats], list[str]]:
    """Every readable clip's padded rows appended to `tmp`/<split>/<modality>.npy: (the splits' small
    arrays, train's running statistics per normalized modality, the clips skipped)."""
    writers = RowWriters(tmp)
    rows: dict[str, SplitRows] = {}
    stats = {m: RunningStats(np.zeros(source.dims[m]), np.zeros(source.dims[m])) for m in tensors.normalize if m in modalities}
    skipped = list(source.skipped)
    largest = float(np.finfo(tensors.dtype).max)  # float16 would turn larger values into inf
    padded = {m: np.zeros((max_lengths[m], source.dims[m]), np.float32) for m in modalities}  # (T_m, d_m), reused
    padded_tokens = np.zeros(max_lengths["t"] if text.tokens else 0, np.int64)  # (T_t,), reused
    text_sources = (DEFAULT, *source.transcripts) if "t" in modalities else ()
    try:
        for index, entry in enumerate(progress(source.entries)):
            try:
                values = source.load(index)
            except (OSError, ValueError, KeyError, SafetensorError) as error:
                skipped.append(f"{entry.where}: unreadable ({error})")
                continue
            split = rows.setdefault(entry.split, SplitRows())
            (tmp / entry.split).mkdir(exist_ok=True)
            for m in modalities:
                x = checked_values(values.get(m), entry, m, source.dims[m], tensors.nonfinite)
                if x.size and np.abs(x).max() > largest:
                    raise ValueError(f"{entry.where}: modality {m} has values beyond the {tensors.dtype} range; use tensors.dtype: float32")
                x = truncate(x, max_lengths[m], tensors.truncate_of(m))  # (L, d)
                if entry.split == "train" and m in stats:
                    stats[m].add(x)
                writers.write_row(entry.split, m, pad_into(padded[m], x), tensors.dtype)
                split.lengths.setdefault(m, []).append(len(x))
            for name in text_sources:
                write_text_rows(writers, values, entry, name, text, tensors, padded["t"], padded_tokens, split)
            split.ids.append(entry.id)
            split.labels.append(entry.label)
            for s in sublabels:
                split.sublabels.setdefault(s, []).append(entry.sublabels[s])
        writers.close()
    except BaseException:
        writers.abandon()
        raise
    return rows, stats, skipped


@dataclass(frozen=True)
class TextArrays:
    """Which of the text's companion arrays the store keeps, beside its rows."""
    tokens: bool  # the input ids (train.finetune_text)
    hidden: bool  # the states below the tuned layers (train.tune_text_layers)


def write_text_rows(writers: RowWriters, values: dict, entry: Entry, source_name: str, text: TextArrays, tensors: TensorConfig,
                    padded: np.ndarray, padded_tokens: np.ndarray, split: SplitRows) -> None:
    """One transcript's rows of a clip: another transcript's features (t@<source>; the default's are
    written with the modalities), and either transcript's token ids and lower states when kept.
    Another transcript's rows stay out of the statistics: the model reads them as it reads the text."""
    key, policy, max_len = keyed("t", source_name), tensors.truncate_of("t"), len(padded)
    if source_name != DEFAULT:
        x = truncate(checked_values(values.get(key), entry, key, padded.shape[1], tensors.nonfinite), max_len, policy)
        writers.write_row(entry.split, key, pad_into(padded, x), tensors.dtype)
        split.lengths.setdefault(key, []).append(len(x))
    if text.tokens:
        ids = truncate(token_ids(values.get(keyed(TOKENS, source_name)), entry, key), max_len, policy)  # (L,)
        writers.write_row(entry.split, keyed(TOKENS, source_name), pad_into(padded_tokens, ids), "int64")
    if text.hidden:
        below = checked_values(values.get(keyed(HIDDEN, source_name)), entry, key, padded.shape[1], tensors.nonfinite)
        writers.write_row(entry.split, keyed(HIDDEN, source_name), pad_into(padded, truncate(below, max_len, policy)), tensors.dtype)


class RowWriters:
    """One RowWriter per (split, array) in the store's <split> folders, each opened at its first row."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.open: dict[tuple[str, str], RowWriter] = {}

    def write_row(self, split: str, name: str, row: np.ndarray, dtype: str) -> None:
        if (split, name) not in self.open:
            self.open[split, name] = RowWriter(self.folder / split / f"{name}.npy", row.shape, dtype)
        self.open[split, name].append(row)

    def close(self) -> None:
        for writer in self.open.values():
            writer.close()

    def abandon(self) -> None:
        """Close the files without finishing them (the folder is about to be removed)."""
        for writer in self.open.values():
            writer.handle.close()


def pad_into(buffer: np.ndarray, x: np.ndarray) -> np.ndarray:
    """`x` ((L, ...), L <= len(buffer)) written at the head of `buffer`, zeros after it; returns `buffer`."""
    buffer[: len(x)] = x
    buffer[len(x):] = 0
    return buffer


def check_entries(entries: list[Entry], data: DataConfig) -> None:
    """Labels finite and in the dataset's range, ids unique, the required splits present."""
    low, high = data.label_range
    seen: set[str] = set()
    for entry in entries:
        for name, value in [("label", entry.label), *((f"label_{s}", v) for s, v in entry.sublabels.items())]:
            if not np.isfinite(value) or not low - LABEL_SLACK <= value <= high + LABEL_SLACK:
                raise ValueError(f"{entry.where}: {name} {value:g} is outside [{low:g}, {high:g}] of {data.dataset}")
        if entry.id in seen:
            raise ValueError(f"{entry.where}: clip id {entry.id} appears twice")
        seen.add(entry.id)
    for name in REQUIRED_SPLITS:
        if not any(e.split == name for e in entries):
            raise ValueError(f"{data.path}: split {name} is empty")


def checked_values(x: np.ndarray | None, entry: Entry, m: str, dim: int, nonfinite: str) -> np.ndarray:
    """(L, d) float32 rows of modality m, as long as the index said; NaN/inf an error or 0."""
    if x is None or len(x) == 0:
        x = np.zeros((0, dim), np.float32)
    if x.shape != (entry.lengths[m], dim):
        raise ValueError(f"{entry.where}: modality {m} has shape {x.shape}, expected ({entry.lengths[m]}, {dim})")
    bad = ~np.isfinite(x)
    if bad.any():
        if nonfinite == "error":
            row = int(np.argwhere(bad)[0][0])
            raise ValueError(
                f"{entry.where}: modality {m} has NaN/inf at step {row} "
                "(set tensors.nonfinite: zero to replace them with 0, as MMSA does for COVAREP's -inf)"
            )
        x = np.where(bad, 0.0, x)
    return x.astype(np.float32, copy=False)


def token_ids(ids: np.ndarray | None, entry: Entry, text: str = "t") -> np.ndarray:
    """(L,) int64 input ids of the text rows (of `text`: t, or another transcript's t@<source>), one per row."""
    ids = np.zeros(0, np.int64) if ids is None else np.asarray(ids, np.int64)
    if ids.shape != (entry.lengths[text],):
        raise ValueError(f"{entry.where}: {len(ids)} text token ids for {entry.lengths[text]} rows of {text}")
    return ids


def truncate(x: np.ndarray, max_len: int, policy: str) -> np.ndarray:
    """(L, ...) -> (min(L, max_len), ...): keep the head, the tail, or evenly spaced steps."""
    if len(x) <= max_len:
        return x
    if policy == "head":
        return x[:max_len]
    if policy == "tail":
        return x[-max_len:]
    return x[np.linspace(0, len(x) - 1, max_len).round().astype(int)]


def save_split(folder: Path, split: SplitRows, modalities: tuple[str, ...]) -> None:
    lengths = {m: np.asarray(n, np.int64) for m, n in split.lengths.items()}  # (N,), the other transcripts' too
    for m, n in lengths.items():
        np.save(folder / f"{m}_lengths.npy", n)
    np.save(folder / "present.npy", np.stack([lengths[m] > 0 for m in modalities], axis=1))  # (N, M)
    np.save(folder / "labels.npy", np.asarray(split.labels, np.float32))
    for s, values in split.sublabels.items():
        np.save(folder / f"label_{s}.npy", np.asarray(values, np.float32))
    (folder / "ids.json").write_text(json.dumps(split.ids))


def replace_dir(new: Path, target: Path) -> None:
    """Swap a finished folder into place; readers see the old store or the new one, never a mix."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)
