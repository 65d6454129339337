"""`pipeline extract --video clip.mp4`: one file through the same steps and settings as the stages."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..features.clip import save_clip
from ..features.config import features_config, transcribe_config
from ..features.extract import ClipInput, Extraction, extract_clip
from ..features.registry import check_backends
from ..params import load_params
from ..threads import set_threads
from .errors import one_line_errors

console = Console()


def extract_command(
    video: Path = typer.Option(..., "--video", help="A video (mp4, mkv, webm, mov, avi) or audio (wav, mp3, flac) file."),
    out: Path = typer.Option(None, "--out", help="Output folder (default: <file name>.features beside the file)."),
    params: Path = typer.Option(Path("params.yaml"), help="params.yaml with `transcribe:` and `features:` sections."),
    text: str = typer.Option(None, help="The transcript, for transcribe.backend `given`."),
) -> None:
    """Transcribe one clip and extract its text, audio and face features into --out."""
    with one_line_errors():
        sections = load_params(params)
        asr = transcribe_config(sections.get("transcribe"))
        settings = features_config(sections.get("features"))
        check_backends(asr, settings)
        set_threads(1, settings.threads)
        extraction = extract_clip(ClipInput(video, text=text), asr, settings)
        out = out or video.with_name(video.name + ".features")
        save_clip(extraction.clip, out)
    console.print(summary(extraction, video, out))
    for warning in extraction.warnings:
        typer.echo(f"warning: {video}: {warning}", err=True)


def summary(extraction: Extraction, video: Path, out: Path) -> Table:
    clip = extraction.clip
    faces = clip.modalities["v"].face if "v" in clip.modalities and clip.modalities["v"].face is not None else None
    title = (f"{video.name}: {clip.duration:.2f} s, {len(clip.transcript.words)} words"
             + (f", faces in {int(faces.sum())}/{len(faces)} frames" if faces is not None else "") + f" -> {out}")
    table = Table(title=title)
    for column in ("modality", "present", "frames", "dim", "extractor", "model"):
        table.add_column(column)
    for m, f in clip.modalities.items():
        table.add_row(m, "yes" if f.present else "no", str(len(f.values)), str(f.dim), f.extractor, f.model)
    spent = ", ".join(f"{step} {seconds:.2f}" for step, seconds in extraction.seconds.items())
    table.caption = f"transcript: {clip.transcript.text[:80]!r}\nseconds: {spent}"
    return table
