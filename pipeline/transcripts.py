"""Several transcripts per clip: label.csv's `text` (the default, e.g. the gold one) and `text_<source>` columns.

A dataset may carry, beside `text`, one column per other transcript of the same clip, named
`text_<source>` (`text_ibm`, `text_speechbrain`: an ASR system's output). The features stage encodes
each; the store keeps each source's text arrays beside the default ones (`t@<source>.npy`,
`t@<source>_lengths.npy`, `t_tokens@<source>.npy`), normalized with the default text's train
statistics; training may draw one source per clip and epoch (`train.transcripts`), and evaluation
reads one (`evaluate.transcript`). Also here: the word error rate of one transcript against another.
"""
from __future__ import annotations

import re

import numpy as np

DEFAULT = "text"  # the source name of label.csv's `text` column
PREFIX = "text_"
SOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9_]*")


def transcript_sources(columns: list[str], where: str) -> tuple[str, ...]:
    """The other transcripts' source names, from label.csv's `text_<source>` columns (in column order)."""
    sources = tuple(c[len(PREFIX):] for c in columns if c.startswith(PREFIX))
    bad = [s for s in sources if not SOURCE_NAME.fullmatch(s)]
    if bad:
        raise ValueError(f"{where}: column(s) {[PREFIX + s for s in bad]}: a transcript source is lower-case letters, digits and _")
    return sources


def keyed(name: str, source: str) -> str:
    """The name of a text array for a source: `t` for the default transcript, `t@ibm` for another."""
    return name if source == DEFAULT else f"{name}@{source}"


def check_sources(wanted: tuple[str, ...], available: tuple[str, ...], what: str, where: str) -> None:
    """Every wanted source is the default or one the store carries; a one-line error otherwise."""
    unknown = [s for s in wanted if s != DEFAULT and s not in available]
    if unknown or not wanted:
        raise ValueError(f"{what}: {unknown or '[]'} not among the transcripts of {where} "
                         f"({[DEFAULT, *available]}: label.csv's text and text_<source> columns)")


def draw_sources(seed: int, epoch: int, clips: int, count: int) -> np.ndarray:
    """(clips,) which of `count` transcript sources each clip of a split reads this epoch, uniformly:
    a function of (seed, epoch) alone, so batching, workers, DDP ranks and a resume do not change it."""
    rng = np.random.default_rng([seed, epoch, 0x7E47])  # its own stream: not the order's, not perturbation's
    return rng.integers(0, count, size=clips)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, over lower-cased whitespace words.

    An empty reference gives 0 for an empty hypothesis and 1 otherwise (every word inserted)."""
    ref, hyp = reference.lower().split(), hypothesis.lower().split()
    if not ref:
        return float(bool(hyp))
    return word_edits(ref, hyp) / len(ref)


def word_edits(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance between two word lists (one row of the table kept at a time)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1]
