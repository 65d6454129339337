"""Importer for the MMSA feature pickles (`aligned_50.pkl`, `unaligned_50.pkl`) of MOSI/MOSEI/SIMS/SIMSv2.

Layout: `{train, valid, test} -> {id, raw_text, text, text_bert, audio, vision, audio_lengths,
vision_lengths, regression_labels[, regression_labels_T/A/V], ...}` with `text` (N, T, 768) BERT
vectors, `text_bert` (N, 3, T) token ids / attention mask / segment ids, `audio` (N, T, 74 COVAREP
on MOSI), `vision` (N, T, 35 Facet on MOSI), ids "video$_$clip".

Choices: text comes from the `text` vectors; `text_bert` only gives the text lengths (its mask),
since token ids are not features (a pickle with `text_bert` but no `text` is an error saying so).
Without `<m>_lengths` a sequence is taken at its full padded length, as MMSA's aligned models do.
The whole pickle is in memory during the build (pickle cannot be read in parts); training reads
the store, never the pickle. pickle.load runs code from the file: load only files you trust.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ..features.cache import content_hash
from .config import DataConfig
from .source import SPLITS, SUBLABELS, Entry, Source

KEYS = {"t": "text", "a": "audio", "v": "vision"}


def is_mmsa(path: Path) -> bool:
    return path.is_file() and path.suffix == ".pkl"


def mmsa_hashes(path: Path, data: DataConfig) -> dict[str, str]:
    return {str(path): content_hash(path)}


def mmsa_source(path: Path, data: DataConfig) -> Source:
    return read_mmsa(path, data.modalities)


def read_mmsa(path: Path, modalities: tuple[str, ...]) -> Source:
    path = Path(path)
    data = _load_pickle(path)
    entries: list[Entry] = []
    rows: list[tuple[str, int]] = []
    dims: dict[str, int] = {}
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for split in SPLITS:
        part = _get(data, split, path, "")
        labels = _vector(_get(part, "regression_labels", path, split), f"{path}: {split}/regression_labels")
        n = len(labels)
        if n == 0:
            raise ValueError(f"{path}: split {split} is empty")
        ids = [str(i) for i in _get(part, "id", path, split)]
        if len(ids) != n:
            raise ValueError(f"{path}: {split}/id has {len(ids)} entries, regression_labels {n}")
        sublabels = {
            s: _vector(part[f"regression_labels_{s}"], f"{path}: {split}/regression_labels_{s}")
            for s in SUBLABELS if f"regression_labels_{s}" in part
        }
        arrays[split], lengths = {}, {}
        for m in modalities:
            arrays[split][m] = _features(part, m, n, dims, path, split)
            lengths[m] = _lengths(part, m, arrays[split][m], path, split)
        for row in range(n):
            sub = {s: float(v[row]) for s, v in sublabels.items()}
            entries.append(Entry(
                id=ids[row].replace("$_$", "/"),
                split=split,
                label=float(labels[row]),
                sublabels=sub,
                lengths={m: int(lengths[m][row]) for m in modalities},
                where=f"{path}: {split} row {row} (id {ids[row]})",
            ))
            rows.append((split, row))

    def load(index: int) -> dict[str, np.ndarray]:
        split, row = rows[index]
        return {m: arrays[split][m][row, : entries[index].lengths[m]].astype(np.float32) for m in modalities}

    return Source(
        format="mmsa",
        entries=entries,
        dims=dims,
        features={m: {"extractor": "mmsa-pickle", "model": KEYS[m], "settings": {"file": path.name}} for m in modalities},
        load=load,
    )


def _load_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            data = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError) as error:
        raise ValueError(f"{path}: not a readable MMSA pickle ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of splits, got {type(data).__name__}")
    return data


def _features(part: dict, m: str, n: int, dims: dict[str, int], path: Path, split: str) -> np.ndarray:
    """(n, T, d) features of modality m in one split, d the same in every split (`dims` records it)."""
    key = KEYS[m]
    if m == "t" and key not in part and "text_bert" in part:
        raise ValueError(
            f"{path}: {split} has text_bert (token ids) but no 'text' vectors; the store needs "
            "feature vectors: use a pickle with 'text', or drop t from data.modalities"
        )
    values = _get(part, key, path, split)
    if not isinstance(values, np.ndarray) or values.ndim != 3 or len(values) != n:
        shape = getattr(values, "shape", type(values).__name__)
        raise ValueError(f"{path}: {split}/{key} has shape {shape}, expected ({n}, T, d)")
    if dims.setdefault(m, values.shape[2]) != values.shape[2]:
        raise ValueError(f"{path}: {split}/{key} has width {values.shape[2]}, other splits {dims[m]}")
    return values


def _get(mapping: Any, key: str, path: Path, split: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        where = f"{split}/{key}" if split else key
        raise ValueError(f"{path}: missing key {where!r}")
    return mapping[key]


def _vector(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name}: shape {array.shape}, expected (N,)")
    return array


def _lengths(part: dict, m: str, values: np.ndarray, path: Path, split: str) -> np.ndarray:
    """(N,) valid steps: `<key>_lengths` if given, the text_bert mask for text, else the padded length."""
    n, steps = values.shape[:2]
    key = f"{KEYS[m]}_lengths"
    if key in part:
        lengths = _vector(part[key], f"{path}: {split}/{key}")
    elif m == "t" and "text_bert" in part:
        key = "text_bert[:, 1] (attention mask)"
        lengths = np.asarray(part["text_bert"])[:, 1, :].sum(axis=1)
    else:
        return np.full(n, steps)
    if len(lengths) != n or (lengths < 0).any() or (lengths > steps).any() or (lengths % 1).any():
        raise ValueError(f"{path}: {split}/{key} must hold {n} whole numbers in [0, {steps}]")
    return lengths.astype(np.int64)
