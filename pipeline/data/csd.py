"""Importer for a folder of CMU-MultimodalSDK computational sequences (`.csd`, HDF5).

A `.csd` file holds one root group `<name>` with `data/<video_id>/features` (rows, d) and
`data/<video_id>/intervals` (rows, 2) start/end seconds, and `metadata/<key>` strings. The label
file (e.g. `CMU_MOSI_Opinion_Labels.csd`) has one row per opinion segment, sentiment in column 0;
segment k of a video is clip k+1 (the numbering of MOSI's `<video>_<k+1>` clips). Each feature
file is aligned to a segment by interval: a clip gets every feature row whose interval overlaps
the segment's, unaveraged (the "unaligned" setting; the SDK's word-level averaging is not done).
Splits come from the SDK folds (`pipeline.data.folds`); videos outside every fold are skipped.
Files are matched to roles by name unless `data.csd_files` names them.
"""
from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np

from ..features.cache import content_hash
from .config import DataConfig
from .folds import read_folds
from .source import Entry, Source

# Public SDK file names, by role; a word file (no vectors) or phone file matches nothing.
PATTERNS = {
    "labels": r"label",
    "t": r"wordvector|glove|bert",
    "a": r"covarep|opensmile|audio",
    "v": r"facet|openface|visual|vision",
}


class Sequence:
    """One open computational sequence: its root group and the videos it covers."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.file = h5py.File(path, "r")
        except OSError as error:
            raise ValueError(f"{path}: not an HDF5 computational sequence ({error})") from None
        roots = list(self.file.keys())
        if len(roots) != 1 or "data" not in self.file[roots[0]]:
            raise ValueError(f"{path}: expected one root group with 'data' inside, found {roots}")
        self.name = roots[0]
        self.data = self.file[roots[0]]["data"]
        self._cached: tuple[str, np.ndarray, np.ndarray] | None = None

    def video(self, video: str) -> tuple[np.ndarray, np.ndarray]:
        """(rows, d) features and (rows, 2) intervals of one video, the last one kept in memory."""
        if self._cached is None or self._cached[0] != video:
            features, intervals = self._read(video, "features"), self.intervals(video)
            if features.dtype.kind not in "fiu":
                raise ValueError(f"{self.path}: {video}/features are not numbers ({features.dtype}); a word file needs vectors")
            if features.ndim != 2 or intervals.shape != (len(features), 2):
                raise ValueError(
                    f"{self.path}: {video} has features {features.shape} and intervals {intervals.shape}, "
                    "expected (rows, d) and (rows, 2)"
                )
            self._cached = (video, features, intervals)
        return self._cached[1], self._cached[2]

    def intervals(self, video: str) -> np.ndarray:
        return self._read(video, "intervals")

    def _read(self, video: str, key: str) -> np.ndarray:
        group = self.data[video]
        if not isinstance(group, h5py.Group) or key not in group:
            raise ValueError(f"{self.path}: missing key {self.name}/data/{video}/{key}")
        return group[key][()]

    def dim(self) -> int:
        first = next(iter(self.data), None)
        if first is None:
            raise ValueError(f"{self.path}: no videos under {self.name}/data")
        return int(self.video(first)[0].shape[1])


def is_csd(path: Path) -> bool:
    return path.is_dir() and any(path.glob("*.csd"))


def csd_hashes(folder: Path, data: DataConfig) -> dict[str, str]:
    files = sorted(folder.glob("*.csd")) + ([Path(data.folds)] if data.folds else [])
    return {str(f): content_hash(f) for f in files}


def csd_source(folder: Path, data: DataConfig) -> Source:
    return read_csd(folder, data.modalities, data.csd_files, data.folds, data.dataset)


def read_csd(folder: Path, modalities: tuple[str, ...], files: dict[str, str], folds: str, dataset: str) -> Source:
    folder = Path(folder)
    roles = _assign_roles(folder, ("labels", *modalities), files)
    if "labels" not in roles:
        raise ValueError(f"{folder}: no label .csd (a name with 'label'); name it in data.csd_files.labels")
    kept = tuple(m for m in modalities if m in roles)
    if not kept:
        raise ValueError(f"{folder}: no feature .csd for any of {list(modalities)}; name them in data.csd_files")
    labels = Sequence(roles["labels"])
    sequences = {m: Sequence(roles[m]) for m in kept}
    split_of = read_folds(folds, dataset)

    entries: list[Entry] = []
    segments: list[tuple[str, float, float]] = []
    skipped = [f"{labels.path}: video {v} is in no fold" for v in labels.data if v not in split_of]
    for video in labels.data:
        if video not in split_of:
            continue
        scores, spans = labels.video(video)
        covered = {m: video in s.data for m, s in sequences.items()}
        rows = {m: s.intervals(video) for m, s in sequences.items() if covered[m]}
        for k, ((start, end), score) in enumerate(zip(spans, scores[:, 0])):
            entries.append(Entry(
                id=f"{video}/{k + 1}",
                split=split_of[video],
                label=float(score),
                sublabels={},
                lengths={m: int(_overlap(rows[m], start, end).sum()) if covered[m] else 0 for m in kept},
                where=f"{labels.path}: {video} segment {k}",
            ))
            segments.append((video, float(start), float(end)))

    def load(index: int) -> dict[str, np.ndarray]:
        video, start, end = segments[index]
        out = {}
        for m, sequence in sequences.items():
            if video in sequence.data:
                features, intervals = sequence.video(video)
                out[m] = features[_overlap(intervals, start, end)].astype(np.float32)
        return out

    return Source(
        format="csd",
        entries=entries,
        dims={m: s.dim() for m, s in sequences.items()},
        features={
            m: {"extractor": "cmu-sdk", "model": s.name, "settings": {"file": s.path.name}} for m, s in sequences.items()
        },
        load=load,
        skipped=skipped,
    )


def _overlap(intervals: np.ndarray, start: float, end: float) -> np.ndarray:
    """(rows,) bool: the rows whose [start, end) interval overlaps the segment's."""
    return (intervals[:, 0] < end) & (intervals[:, 1] > start)


def _assign_roles(folder: Path, roles: tuple[str, ...], files: dict[str, str]) -> dict[str, Path]:
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder of .csd files")
    found = sorted(folder.glob("*.csd"))
    assigned = {}
    for role in roles:
        if role in files:
            path = folder / files[role]
            if not path.is_file():
                raise ValueError(f"data.csd_files.{role}: {path} not found")
            assigned[role] = path
            continue
        matches = [p for p in found if re.search(PATTERNS[role], p.stem, re.IGNORECASE)]
        if len(matches) > 1:
            raise ValueError(
                f"{folder}: several .csd files could be {role} ({', '.join(p.name for p in matches)}); "
                f"name one in data.csd_files.{role}"
            )
        if matches:
            assigned[role] = matches[0]
    return assigned
