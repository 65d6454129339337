"""`pipeline features`, the DVC stage `features` (stages/features.py): every clip of `data.path`/label.csv -> one feature folder per clip.

Reads params `data.path`, `data.modalities`, `features`, `transcribe` (clips the transcribe stage
left without a transcript are transcribed here, with the same settings) and `ray.address`. Writes
`<out>/<video_id>/<clip_id>/` per clip, `clips.csv`, `failures.csv`, `warnings.csv` and
`extraction.json` (layout in pipeline/features/dataset.py). The per-clip cache at `features.cache`
makes a rerun cheap and a killed run resume. Exits non-zero only when no clip could be extracted,
or on any failure with `strict: true`.
"""
from __future__ import annotations

from pathlib import Path

import typer

from ..features.config import on_cluster, stage_configs
from ..features.dataset import parse_shard, run_features
from ..features.registry import check_backends
from ..params import load_params
from .errors import one_line_errors
from .stage_report import finish, progress_bar, step_aside


def command(
    params: Path = typer.Option(Path("params.yaml"), help="params.yaml (sections data, features, transcribe, ray)."),
    shard: str = typer.Option("1/1", help="k/n: extract every n-th clip from the k-th (parallel machines, one shared cache)."),
) -> None:
    """Extract text, audio and face features of every clip of the dataset."""
    with one_line_errors():
        sections = load_params(params)
        asr, settings = stage_configs(sections)
        check_backends(asr, settings)
        settings = on_cluster(settings, sections)
        if step_aside(settings.data, settings.out, "extract"):
            return
        finish(run_features(settings, asr, parse_shard(shard), progress_bar), settings.out, settings.strict, "extracted")
