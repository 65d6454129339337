"""Importer for the features stage's output: `clips.csv` and one extracted folder per clip.

`clips.csv` has `video_id, clip_id, label, mode, folder` (folder relative to the CSV) and may add
`label_T, label_A, label_V`. Each folder is read with `pipeline.features.clip.load_clip`. Text-only
datasets arrive the same way, with clips that carry only "t". A clip whose folder is missing or
unfinished is reported and skipped; features of different widths or extractors are an error,
since they cannot share one model. The other transcripts of a clip (modalities `t@<source>`,
pipeline/transcripts.py) come with its text when every clip has them.
"""
from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from ..features.cache import content_hash
from ..features.clip import ARRAYS, EXTRACTION, HEADER, load_clip
from .config import DataConfig
from .source import HIDDEN, SUBLABELS, TOKENS, Entry, Source, parse_split
from ..transcripts import DEFAULT, keyed

CLIPS_CSV = "clips.csv"
REQUIRED = ("video_id", "clip_id", "label", "mode", "folder")


def is_clips(path: Path) -> bool:
    return path.is_dir() and (path / CLIPS_CSV).is_file()


def clips_hashes(path: Path, data: DataConfig) -> dict[str, str]:
    """clips.csv, the extraction record, and the clips' headers with their arrays' size and time
    (hashing every array costs minutes)."""
    if not (path / CLIPS_CSV).is_file():
        raise ValueError(f"{path / CLIPS_CSV}: not found (run the features stage first)")
    digest = hashlib.sha256()
    for header in sorted(path.rglob(HEADER)):
        arrays = header.with_name(ARRAYS)
        stamp = f"{arrays.stat().st_size}:{arrays.stat().st_mtime_ns}" if arrays.is_file() else "-"
        digest.update(f"{header.relative_to(path)}|{stamp}|".encode() + header.read_bytes())
    record = path / EXTRACTION
    return {str(path / CLIPS_CSV): content_hash(path / CLIPS_CSV), f"{path}/**/{HEADER}": digest.hexdigest(),
            str(record): content_hash(record) if record.is_file() else "-"}


def clips_source(path: Path, data: DataConfig) -> Source:
    return read_clips(path, data.modalities)


def read_clips(folder: Path, modalities: tuple[str, ...]) -> Source:
    """Index of the clips under `folder`; modalities that no clip carries are dropped."""
    table = Path(folder) / CLIPS_CSV
    columns, rows = _read_table(table)
    sublabels = [s for s in SUBLABELS if f"label_{s}" in columns]

    entries: list[Entry] = []
    folders: list[Path] = []
    skipped: list[str] = []
    dims: dict[str, int] = {}
    features: dict[str, dict[str, Any]] = {}
    tokens = "t" in modalities  # until a clip with text rows lacks their input ids
    hidden = "t" in modalities  # until one lacks the states below the tuned layers
    sources: list[str] | None = None  # the other transcripts every clip read so far carries
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        where = f"{table}:{number}"
        clip_dir = table.parent / row["folder"]
        header_file = clip_dir / HEADER
        if not header_file.is_file():
            skipped.append(f"{where}: {clip_dir} has no {HEADER} (extraction missing or unfinished)")
            continue
        try:
            header = _read_header(header_file, modalities)
        except (ValueError, KeyError, TypeError) as error:
            skipped.append(f"{where}: {header_file} is unreadable ({type(error).__name__}: {error})")
            continue
        tokens, hidden = tokens and header.tokens, hidden and header.hidden
        if "t" in modalities:
            sources = header.transcripts if sources is None else [s for s in sources if s in header.transcripts]
        for m, (dim, extraction) in header.described.items():
            _check_same(where, m.partition("@")[0], dim, extraction, dims, features)
        entries.append(_entry(row, sublabels, header.lengths, where, clip_dir))
        folders.append(clip_dir)

    kept = tuple(m for m in modalities if m in dims)
    if not kept:
        raise ValueError(f"{table}: no clip carries any of the modalities {list(modalities)}")
    for entry in entries:
        entry.lengths = {m: n for m, n in entry.lengths.items() if m.partition("@")[0] in kept}

    tokens, hidden = tokens and "t" in kept, hidden and "t" in kept
    transcripts = tuple(sources or ()) if "t" in kept else ()

    record = table.parent / EXTRACTION
    return Source(
        format="features",
        entries=entries,
        dims=dims,
        features=features,
        load=partial(_load, folders, kept, transcripts, tokens, hidden),
        skipped=skipped,
        tokens=tokens,
        hidden=hidden,
        extraction=json.loads(record.read_text()) if record.is_file() else None,
        transcripts=transcripts,
    )


def _load(folders: list[Path], kept: tuple[str, ...], transcripts: tuple[str, ...], tokens: bool, hidden: bool,
          index: int) -> dict:
    """The arrays of clip `index`: its modalities, the other transcripts' rows, and each transcript's
    token ids and lower states where the store keeps them."""
    clip = load_clip(folders[index])
    values = {m: clip.modalities[m].values for m in kept if m in clip.modalities}
    for source in transcripts:
        values[keyed("t", source)] = clip.modalities[keyed("t", source)].values
    for source in (DEFAULT, *transcripts):
        text = clip.modalities.get(keyed("t", source))
        if tokens and text is not None:
            values[keyed(TOKENS, source)] = text.tokens
        if hidden and text is not None:
            values[keyed(HIDDEN, source)] = text.hidden
    return values


def _entry(row: dict[str, str], sublabels: list[str], lengths: dict[str, int], where: str, clip_dir: Path) -> Entry:
    return Entry(
        id=f"{row['video_id']}/{row['clip_id']}",
        split=parse_split(row["mode"], where),
        label=_number(row["label"], "label", where),
        sublabels={s: _number(row[f"label_{s}"], f"label_{s}", where) for s in sublabels},
        lengths=lengths,
        where=f"{where} ({clip_dir})",
    )


def _read_table(table: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(columns, rows) of clips.csv, its required columns checked."""
    if not table.is_file():
        raise ValueError(f"{table}: not found (run the features stage first, or point data.path at its output)")
    with open(table, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            raise ValueError(f"{table}: missing column(s) {missing}")
        return list(columns), list(reader)


@dataclass
class ClipHeader:
    """What a clip's features.json says of the modalities asked for."""
    lengths: dict[str, int]  # rows per modality, 0 when absent; the other transcripts' (t@<source>) too
    described: dict[str, tuple[int, dict[str, Any]]]  # (width, extraction) of those present
    tokens: bool  # its text rows, if any, carry their input ids
    hidden: bool  # ... and the states below the tuned layers
    transcripts: list[str]  # the other transcripts' sources it carries


def _read_header(header_file: Path, modalities: tuple[str, ...]) -> ClipHeader:
    info = json.loads(header_file.read_text())["modalities"]
    lengths = {m: int(info[m]["frames"]) if m in info and info[m]["present"] else 0 for m in modalities}
    described = {m: _described(info[m]) for m in modalities if lengths[m]}
    others = [m for m in info if m.startswith("t@")] if "t" in modalities else []
    lengths |= {m: int(info[m]["frames"]) for m in others}
    described |= {m: _described(info[m]) for m in others if info[m]["frames"]}
    has_text = bool(lengths.get("t"))
    return ClipHeader(lengths, described, not has_text or bool(info["t"].get("tokens", False)),
                      not has_text or bool(info["t"].get("hidden", False)), [m.partition("@")[2] for m in others])


def _described(meta: dict) -> tuple[int, dict[str, Any]]:
    """(width, extractor/model/settings) of one modality in a clip's features.json."""
    return int(meta["dim"]), {"extractor": meta["extractor"], "model": meta["model"], "settings": meta.get("settings", {})}


def _check_same(where: str, m: str, dim: int, extraction: dict, dims: dict[str, int], features: dict[str, dict]) -> None:
    """Every clip of a modality must come from the same extractor with the same settings."""
    if m not in dims:
        dims[m], features[m] = dim, extraction
    elif dim != dims[m]:
        raise ValueError(f"{where}: modality {m} has width {dim}, earlier clips {dims[m]}")
    elif extraction != features[m]:
        raise ValueError(f"{where}: modality {m} was extracted with {extraction}, earlier clips with {features[m]}")


def _number(text: str | None, column: str, where: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {column} {text!r} is not a number") from None
