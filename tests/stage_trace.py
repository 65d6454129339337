"""Run one DVC stage's command in this process and record what it used: a test instrument.

    python tests/stage_trace.py stages.train trace.json --params params.yaml

Writes trace.json: `files`, the project's source files imported by the end of the run (lazily
imported ones included), and `params`, the params.yaml keys the stage read: "section.key" for
each key of a section it looked at, and "section" for each section it asked for. The stage runs
exactly as `python -m stages.train --params params.yaml` would; only `load_params` is wrapped.
"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parents[1]


class TrackedDict(dict):
    """A params mapping that notes which of its existing keys are read (get, [], in, iteration)."""

    def _note(self, key=None) -> None:
        reads, prefix = getattr(self, "reads", None), getattr(self, "prefix", "")
        if reads is None:
            return
        keys = dict.keys(self) if key is None else [key] if dict.__contains__(self, key) else []
        reads.update(f"{prefix}{k}" for k in keys)

    def __getitem__(self, key):
        self._note(key)
        return dict.__getitem__(self, key)

    def get(self, key, default=None):
        self._note(key)
        return dict.get(self, key, default)

    def __contains__(self, key) -> bool:
        self._note(key)
        return dict.__contains__(self, key)

    def __iter__(self):
        self._note()
        return dict.__iter__(self)

    def keys(self):
        self._note()
        return dict.keys(self)

    def items(self):
        self._note()
        return dict.items(self)

    def values(self):
        self._note()
        return dict.values(self)

    def __reduce__(self):  # pickled (a checkpoint, a worker's arguments) as the plain dict it is
        return dict, (dict(self),)


def tracked(params: dict, reads: set[str]) -> TrackedDict:
    """The file's sections, each tracked key by key; values inside a section are plain."""
    sections = {}
    for name, section in params.items():
        if isinstance(section, dict):
            section = TrackedDict(section)
            section.reads, section.prefix = reads, f"{name}."
        sections[name] = section
    top = TrackedDict(sections)
    top.reads, top.prefix = reads, ""
    return top


def project_files() -> list[str]:
    """The project's source files among the loaded modules, relative to the repository."""
    found = set()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        path = Path(file).resolve() if file else None
        if path and any(path.is_relative_to(ROOT / top) for top in ("pipeline", "stages")):
            found.add(str(path.relative_to(ROOT)))
    return sorted(found)


def main() -> None:
    module_name, out, args = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    reads: set[str] = set()
    import pipeline.params

    reader = pipeline.params.load_params
    pipeline.params.load_params = lambda path: tracked(reader(path), reads)
    module = importlib.import_module(module_name)  # its `from pipeline.params import load_params` takes the wrapper
    sys.argv = [module_name, *args]
    try:
        typer.run(module.command)
    finally:
        out.write_text(json.dumps({"files": project_files(), "params": sorted(reads)}, indent=1))

if __name__ == "__main__":
    main()
