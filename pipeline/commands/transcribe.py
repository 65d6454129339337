"""`pipeline transcribe`, the DVC stage `transcribe` (stages/transcribe.py): every clip of `data.path`/label.csv -> `<out>/<video_id>/<clip_id>.json`.

Reads params `data.path`, `transcribe` and `ray.address`. Writes one transcript per clip (text,
language, words with start/end seconds), `failures.csv` and `warnings.csv`
(pipeline/features/dataset.py). Exits non-zero only when no clip could be transcribed, or on any
failure with `strict: true`.
"""
from __future__ import annotations

from pathlib import Path

import typer

from ..features.config import on_cluster, transcribe_stage_config
from ..features.dataset import parse_shard, run_transcribe
from ..features.registry import check_backends
from ..params import load_params
from .errors import one_line_errors
from .stage_report import finish, progress_bar, step_aside


def command(
    params: Path = typer.Option(Path("params.yaml"), help="params.yaml (data.path, the transcribe section, ray.address)."),
    shard: str = typer.Option("1/1", help="k/n: transcribe every n-th clip from the k-th (parallel machines)."),
) -> None:
    """Transcribe every clip of the dataset with word start/end times."""
    with one_line_errors():
        sections = load_params(params)
        asr = on_cluster(transcribe_stage_config(sections), sections)
        check_backends(asr)
        if step_aside(asr.data, asr.out, "transcribe"):
            return
        finish(run_transcribe(asr, parse_shard(shard), progress_bar), asr.out, asr.strict, "transcribed")
