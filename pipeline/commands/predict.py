"""`pipeline predict --video clip.mp4`: a trained model's score for new clips and, for DSRF, why."""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..features.config import configs_from_record
from ..features.extract import ClipInput, extract_clip
from ..features.media import MEDIA_SUFFIXES
from ..model import FACTORS
from ..predict import Prediction, explain, load_trained
from ..threads import set_threads
from .errors import one_line_errors

console = Console()


def expand(videos: list[Path]) -> list[Path]:
    """Files as given; a folder gives its media files, sorted."""
    found: list[Path] = []
    for path in videos:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in MEDIA_SUFFIXES)
        else:
            found.append(path)
    if not found:
        raise ValueError(f"{', '.join(map(str, videos))}: no media files")
    return found


def table(predictions: list[Prediction]) -> Table:
    out = Table(title=f"{predictions[0].model} predictions")
    for column in ("clip", "score", "confidence", "polarity", "class", "weights t/a/v", "missing"):
        out.add_column(column)
    for p in predictions:
        weights = "/".join(f"{p.modalities[m].weight:.2f}" for m in ("t", "a", "v")) if p.explained else "-"
        missing = ", ".join(m for m in ("t", "a", "v") if not p.modalities[m].present) or "-"
        sure = "-" if p.confidence is None else f"{p.confidence:.2f}"
        out.add_row(Path(p.video).name, f"{p.score:+.2f}", sure, p.polarity, p.label_class, weights, missing)
    return out


def detail(p: Prediction) -> Table:
    out = Table(title=f"{p.video}: score {p.score:+.2f} ({p.polarity}, {p.label_class}), model {p.model}")
    order = "/".join(f[:3] for f in FACTORS)
    columns = ("modality", "status", "score change without it") + (("weight", f"factor weights {order}", f"uncertainty {order}") if p.explained else ())
    for column in columns:
        out.add_column(column)
    for m, r in p.modalities.items():
        explanation = (f"{r.weight:.2f}", " ".join(f"{v:.2f}" for v in r.factor_weights.values()),
                       " ".join(f"{v:.2f}" for v in r.uncertainty.values())) if p.explained else ()
        without = "-" if r.effect is None else f"{-r.effect:+.2f}"
        out.add_row(m, "present" if r.present else "missing", without, *explanation)
    out.caption = f"{p.certainty()}\n{p.verdict()}\ntranscript: {p.transcript['text'][:100]!r}"
    return out


def predict_command(
    video: list[Path] = typer.Option(..., "--video", help="A clip, or a folder of clips; repeat for several."),
    model: Path = typer.Option(None, "--model", help="A checkpoint, or a train output folder (default: models/, the mean of every seed)."),
    report: Path = typer.Option(None, "--report", help="Write a self-contained HTML explanation report here."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (one object per clip) instead of tables."),
    window: float = typer.Option(10.0, help="Seconds per scoring window for long clips (0: one window)."),
    text: str = typer.Option(None, help="The transcript, when the model was trained with transcribe.backend `given`."),
) -> None:
    """Score clips with a trained model; DSRF also explains each score (weights, factors, uncertainties)."""
    with one_line_errors():
        set_threads()
        started = time.perf_counter()
        trained = load_trained(model)
        if not trained.extraction:
            raise ValueError(f"{trained.path}: trained on features this pipeline did not extract "
                             f"({trained.manifest['source'].get('format')} at {trained.manifest['source'].get('path')}); "
                             "it cannot score a raw video (train on features made by `pipeline features`)")
        asr, settings = configs_from_record(trained.extraction)
        settings = dataclasses.replace(settings, modalities=trained.model.config.modalities)
        loaded = time.perf_counter() - started
        clips = expand(video)
        if report:
            from ..report import render, strongest_frame  # matplotlib: imported only for a report
        predictions, sections, timings = [], [], []
        for path in clips:
            begin = time.perf_counter()
            extraction = extract_clip(ClipInput(path, text=text), asr, settings)
            middle = time.perf_counter()
            prediction = explain(trained, extraction.clip, str(path), window)
            timings.append((middle - begin, time.perf_counter() - middle))
            predictions.append(prediction)
            if report:
                sections.append((prediction, strongest_frame(trained, extraction.clip, path, prediction)))
            for warning in extraction.warnings:
                typer.echo(f"warning: {path}: {warning}", err=True)
        if report:
            report.parent.mkdir(parents=True, exist_ok=True)
            report.write_text(render(sections, trained.describe()))
    if as_json:
        objects = [p.to_json() for p in predictions]
        typer.echo(json.dumps(objects[0] if len(objects) == 1 else objects, indent=1))
        return
    console.print(table(predictions) if len(predictions) > 1 else detail(predictions[0]))
    extract_s, model_s = (sum(t[i] for t in timings) for i in (0, 1))
    console.print(f"model {trained.describe()} loaded in {loaded:.1f} s; "
                  f"extraction {extract_s:.1f} s, scoring {model_s:.2f} s for {len(clips)} clip(s)"
                  + (f"; report: {report}" if report else ""))
