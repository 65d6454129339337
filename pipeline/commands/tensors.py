"""`pipeline tensors`, the DVC stage `tensors` (stages/tensors.py): the dataset (features stage output, MMSA pickle or CMU-SDK .csd) -> the tensor store.

Reads params `data`, `tensors` and `features.out` (where a raw dataset's features are); writes the
store at `tensors.out`. Unchanged inputs and settings: nothing is rebuilt.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import typer
from tqdm import tqdm

from ..data.build import build_store
from ..data.config import data_config, tensor_config
from ..features.config import FeaturesConfig
from ..params import check_one_place, load_params
from .errors import one_line_errors


def command(params: Path = typer.Option(Path("params.yaml"), help="params.yaml (sections data and tensors, and features.out).")) -> None:
    """Build the memory-mapped tensor store from the dataset named in data.path."""
    with one_line_errors():
        sections = load_params(params)
        check_one_place("tensors", sections.get("tensors"), {"features": "features.out"})
        data = data_config(sections.get("data"))
        features_out = (sections.get("features") or {}).get("out", FeaturesConfig.out)
        tensors = dataclasses.replace(tensor_config(sections.get("tensors")), features=features_out)
        manifest, rebuilt = build_store(data, tensors, progress=lambda clips: tqdm(clips, desc="tensors", unit="clip", disable=None))
    if not rebuilt:
        typer.echo(f"{tensors.out}: up to date")
        return
    for reason in manifest.skipped:
        typer.echo(f"skipped {reason}", err=True)
    dropped = [m for m in data.modalities if m not in manifest.modalities]
    if dropped:
        typer.echo(f"no clip carries {dropped}: the store has {list(manifest.modalities)}", err=True)
    sizes = ", ".join(f"{split} {n}" for split, n in manifest.splits.items())
    dims = ", ".join(f"{m} {manifest.max_lengths[m]}x{manifest.dims[m]}" for m in manifest.modalities)
    typer.echo(f"{tensors.out}: {manifest.source['format']} {manifest.dataset}; {sizes} clips; {dims}")
