"""Atomic file writes: a killed process never leaves half a file where a reader looks."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

PARTIAL = ".partial-"  # in the name of a temporary file that `atomic_write` has not renamed yet


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """`write(tmp)` fills a temporary file beside `path`, which is then renamed onto it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{PARTIAL}")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def remove_partial(folder: Path, name: str = "") -> list[Path]:
    """Delete the temporary files that `atomic_write` left in `folder` (for the file `name`, or for
    any) when its process was killed mid-write; returns them. Only for a folder no live process is
    writing to: a writer's temporary file vanishes under it."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    prefix = f".{name}{PARTIAL}" if name else "."
    found = [p for p in folder.iterdir() if p.name.startswith(prefix) and PARTIAL in p.name and p.is_file()]
    for path in found:
        path.unlink(missing_ok=True)
    return found
