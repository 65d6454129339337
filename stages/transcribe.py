"""DVC stage `transcribe`: every clip of `data.path`/label.csv -> `<out>/<video_id>/<clip_id>.json`.

Reads params `data.path`, `transcribe` and `ray.address`. Writes one transcript per clip (text, language, words with start/end
seconds), `failures.csv` and `warnings.csv`. Exits non-zero only when no clip could be
transcribed, or on any failure with `strict: true`.
"""
from __future__ import annotations

from pathlib import Path

import typer

from pipeline.errors import one_line_errors
from pipeline.features.dataset import Report, parse_shard, run_transcribe
from pipeline.features.settings import is_raw_dataset, on_cluster, stage_settings
from pipeline.params import load_params


def finish(report: Report, out: str, strict: bool, what: str) -> None:
    """Print the stage's report; raise (exit 2) when nothing was done or `strict` meets a failure."""
    for video_id, clip_id, step, reason in report.failures:
        typer.echo(f"failed {video_id}/{clip_id} at {step}: {reason}", err=True)
    kind = " (text-only dataset)" if report.text_only else ""
    typer.echo(f"{out}: {len(report.extracted)} clips {what}{kind}, {len(report.failures)} failed, "
               f"{len(report.warnings)} warnings (see failures.csv, warnings.csv)")
    if not report.extracted and report.rows:
        raise ValueError(f"{out}: no clip could be {what} ({len(report.failures)} failures)")
    if strict and report.failures:
        raise ValueError(f"{out}: {len(report.failures)} clip(s) failed and strict is true")


def steps_aside(data: str, out: str, what: str) -> bool:
    """True (with an empty output folder for DVC) when data.path is a feature file, not raw clips."""
    if is_raw_dataset(data):
        return False
    Path(out).mkdir(parents=True, exist_ok=True)
    typer.echo(f"{data}: a feature file, not a raw dataset; nothing to {what}")
    return True


def command(
    params: Path = typer.Option(Path("params.yaml"), help="params.yaml (sections data and transcribe)."),
    shard: str = typer.Option("1/1", help="k/n: transcribe every n-th clip from the k-th (parallel machines)."),
) -> None:
    """Transcribe every clip of the dataset with word start/end times."""
    with one_line_errors():
        sections = load_params(params)
        asr = on_cluster(stage_settings(sections)[0], sections)
        if steps_aside(asr.data, asr.out, "transcribe"):
            return
        finish(run_transcribe(asr, parse_shard(shard)), asr.out, asr.strict, "transcribed")


if __name__ == "__main__":
    typer.run(command)
