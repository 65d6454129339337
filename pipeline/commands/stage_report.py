"""What the transcribe and features stages print about their clips: a progress bar as they run, the report after."""
from __future__ import annotations

from collections.abc import Iterator

import typer
from tqdm import tqdm

from ..features.dataset import Report, check_report, steps_aside
from ..features.extract import StepFailed


def finish(report: Report, out: str, strict: bool, what: str) -> None:
    """Print a stage's report; raise (exit 2) when nothing was done or `strict` meets a failure."""
    for video_id, clip_id, step, reason in report.failures:
        typer.echo(f"failed {video_id}/{clip_id} at {step}: {reason}", err=True)
    kind = " (text-only dataset)" if report.text_only else ""
    typer.echo(f"{out}: {len(report.extracted)} clips {what}{kind}, {len(report.failures)} failed, "
               f"{len(report.warnings)} warnings (see failures.csv, warnings.csv)")
    check_report(report, out, strict, what)


def step_aside(data: str, out: str, what: str) -> bool:
    """True, said so, when data.path is a feature file, not raw clips: nothing for the stage to do."""
    if not steps_aside(data, out):
        return False
    typer.echo(f"{data}: a feature file, not a raw dataset; nothing to {what}")
    return True


def progress_bar(outcomes: Iterator[tuple[int, object]], total: int, stage: str) -> Iterator[tuple[int, object]]:
    """The clips' outcomes as they finish, counted on a bar with the failures so far."""
    failed = 0
    with tqdm(total=total, desc=stage, unit="clip", dynamic_ncols=True) as bar:
        for index, outcome in outcomes:
            failed += isinstance(outcome, StepFailed)
            bar.set_postfix(failed=failed, refresh=False)
            bar.update()
            yield index, outcome
