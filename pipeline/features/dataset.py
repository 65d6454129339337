"""The dataset stages: the per-clip extraction of `extract.py` over every row of label.csv.

Layout (the CH-SIMS / MMSA-FET convention): `<data>/label.csv` with `video_id, clip_id, text, label, mode` (optional
`start, end, label_T, label_A, label_V`) and clips at `<data>/<video_id>/<clip_id>.<ext>`. A
label.csv with a `text` column and no clip file at all is a text-only dataset: only text
features are extracted, from `text`. Columns `text_<source>` are other transcripts of the same clip
(pipeline/transcripts.py): each is encoded too, as the clip's modality `t@<source>`.

Written into the output folder: one folder `<video_id>/<clip_id>/` per clip (`save_clip`, or a
transcript JSON for the transcribe stage), `clips.csv` (`video_id,clip_id,label,mode,folder`
[+ `label_T,label_A,label_V`], one row per clip extracted, `folder` relative to the CSV),
`failures.csv` (`video_id,clip_id,step,reason`: clips left out) and `warnings.csv` (same columns:
clips kept with a modality marked missing). With `--shard k/n` the three tables are named
`<table>-<k>of<n>.csv`; a last run without `--shard` finds every clip cached and writes the
whole tables.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from ..transcripts import PREFIX, transcript_sources
from ..files import remove_partial
from ..threads import set_threads
from .cache import PartCache
from .clip import EXTRACTION, TRANSCRIPT, atomic_write_bytes, read_transcript, save_clip, write_transcript
from .config import FeaturesConfig, TranscribeConfig, extraction_record, is_raw_dataset
from .extract import ClipInput, Extraction, StepFailed, content_of, extract_clip, transcribe_clip
from .media import MEDIA_SUFFIXES

SUBLABELS = ("label_T", "label_A", "label_V")
TABLE_COLUMNS = ("video_id", "clip_id", "step", "reason")
KEY_FILE = ".key"  # beside a clip's files: the Extraction key they were written from


@dataclass
class Row:
    line: int  # line in label.csv, for messages
    video_id: str
    clip_id: str
    label: str
    mode: str
    text: str | None
    duration: float  # end - start when label.csv has them, else 0
    sublabels: dict[str, str]
    transcripts: dict[str, str] = field(default_factory=dict)  # source -> label.csv's `text_<source>`


@dataclass
class Report:
    extracted: list[Row] = field(default_factory=list)
    failures: list[tuple[str, str, str, str]] = field(default_factory=list)  # TABLE_COLUMNS
    warnings: list[tuple[str, str, str, str]] = field(default_factory=list)
    text_only: bool = False
    rows: int = 0


def parse_shard(text: str) -> tuple[int, int]:
    """`k/n` (1 <= k <= n) -> (k, n)."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard: expected k/n such as 1/4, got {text!r}") from None
    if not 1 <= k <= n:
        raise ValueError(f"--shard: expected 1 <= k <= n, got {text!r}")
    return k, n


def read_label_csv(data: Path) -> tuple[list[Row], list[tuple[str, str, str, str]], list[str]]:
    """Rows of `<data>/label.csv`, the failures of bad rows (duplicates, unsafe ids), and its columns."""
    table = Path(data) / "label.csv"
    if not table.is_file():
        raise ValueError(f"{table}: not found (a dataset folder holds label.csv and <video_id>/<clip_id>.<ext>)")
    with open(table, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        missing = [c for c in ("video_id", "clip_id", "label", "mode") if c not in columns]
        if missing:
            raise ValueError(f"{table}: missing column(s) {missing}")
        sources = transcript_sources(columns, str(table))
        records = list(reader)
    rows, failures, seen = [], [], {}
    for line, record in enumerate(records, start=2):
        video_id, clip_id = record["video_id"].strip(), record["clip_id"].strip()
        where = f"{table}:{line}"
        if not _safe_id(video_id) or not _safe_id(clip_id):
            failures.append((video_id, clip_id, "input", f"{where}: video_id/clip_id must be a plain file name"))
            continue
        if (video_id, clip_id) in seen:
            failures.append((video_id, clip_id, "input", f"{where}: duplicate clip id (first on line {seen[video_id, clip_id]})"))
            continue
        seen[video_id, clip_id] = line
        duration = 0.0
        if record.get("start") and record.get("end"):
            try:
                duration = max(0.0, float(record["end"]) - float(record["start"]))
            except ValueError:
                failures.append((video_id, clip_id, "input", f"{where}: start/end are not numbers"))
                continue
        sublabels = {c: record[c] for c in SUBLABELS if c in columns}
        transcripts = {source: record[PREFIX + source] or "" for source in sources}
        rows.append(Row(line, video_id, clip_id, record["label"], record["mode"], record.get("text"), duration, sublabels, transcripts))
    return rows, failures, columns


def _safe_id(value: str) -> bool:
    return bool(value) and value not in (".", "..") and "/" not in value and "\\" not in value and "\0" not in value


def find_media(data: Path, row: Row) -> Path | None:
    folder = Path(data) / row.video_id
    if not folder.is_dir():
        return None
    found = sorted(p for p in folder.iterdir() if p.stem == row.clip_id and p.suffix.lower() in MEDIA_SUFFIXES)
    return found[0] if found else None


def shard_rows(items: list, k: int, n: int) -> list:
    """Every n-th item from the k-th: n machines split a dataset without talking to each other."""
    return items[k - 1 :: n]


def table_name(stem: str, shard: tuple[int, int]) -> str:
    return f"{stem}.csv" if shard[1] == 1 else f"{stem}-{shard[0]}of{shard[1]}.csv"


# ---------------------------------------------------------------- the two stages
# (the clips' outcomes as they finish: (index, warnings or StepFailed), how many, the stage) -> the
# same outcomes; the command's progress bar. The library shows none.
Progress = Callable[[Iterator[tuple[int, object]], int, str], Iterator[tuple[int, object]]]


def quiet(outcomes: Iterator[tuple[int, object]], total: int, stage: str) -> Iterator[tuple[int, object]]:
    return outcomes


def run_features(settings: FeaturesConfig, asr: TranscribeConfig, shard: tuple[int, int] = (1, 1),
                 progress: Progress = quiet) -> Report:
    """The features stage; a transcript the transcribe stage wrote is used, a missing one is made."""
    report, jobs = _plan(Path(settings.data), shard)
    work = []
    for row, media in jobs:
        done = Path(settings.transcripts) / row.video_id / f"{row.clip_id}.json"
        transcript = read_transcript(done) if done.is_file() else None
        work.append((row, ClipInput(media, row.text, row.duration, transcript, row.transcripts), asr, settings))
    _run(work, _features_job, settings, "features", report, progress)
    _write_tables(Path(settings.out), report, shard, with_clips=True)
    record = json.dumps(extraction_record(asr, settings), indent=1, sort_keys=True)
    atomic_write_bytes(Path(settings.out) / EXTRACTION, record.encode())
    return report


def run_transcribe(asr: TranscribeConfig, shard: tuple[int, int] = (1, 1), progress: Progress = quiet) -> Report:
    """The transcribe stage: `<out>/<video_id>/<clip_id>.json` per clip."""
    report, jobs = _plan(Path(asr.data), shard)
    work = [(row, ClipInput(media, row.text, row.duration), asr) for row, media in jobs]
    _run(work, _transcribe_job, asr, "transcribe", report, progress)
    _write_tables(Path(asr.out), report, shard, with_clips=False)
    return report


def _plan(data: Path, shard: tuple[int, int]) -> tuple[Report, list[tuple[Row, Path | None]]]:
    """This shard's rows with their clip files; rows without one are failures (bad rows: shard 1 reports them)."""
    rows, bad, columns = read_label_csv(data)
    media = [find_media(data, row) for row in rows]
    text_only = "text" in columns and all(m is None for m in media)
    report = Report(text_only=text_only, rows=len(rows) + len(bad), failures=bad if shard[0] == 1 else [])
    jobs = []
    for row, path in shard_rows(list(zip(rows, media)), *shard):
        if path is None and not text_only:
            reason = f"{data / row.video_id}: no clip file {row.clip_id}.<ext> (label.csv line {row.line})"
            report.failures.append((row.video_id, row.clip_id, "input", reason))
        else:
            jobs.append((row, path))
    return report, jobs


def check_report(report: Report, out: str, strict: bool, what: str) -> None:
    """Raise (exit 2) when nothing was done, or when `strict` meets a failure."""
    if not report.extracted and report.rows:
        raise ValueError(f"{out}: no clip could be {what} ({len(report.failures)} failures)")
    if strict and report.failures:
        raise ValueError(f"{out}: {len(report.failures)} clip(s) failed and strict is true")


def steps_aside(data: str, out: str) -> bool:
    """True (with an empty output folder for DVC) when data.path is a feature file, not raw clips."""
    if is_raw_dataset(data):
        return False
    Path(out).mkdir(parents=True, exist_ok=True)
    return True


def _run(work: list[tuple], job: Callable, settings: TranscribeConfig | FeaturesConfig, desc: str, report: Report,
         progress: Progress) -> None:
    """Every job, on the stage's executor; the report lists clips in `work`'s order whatever order they finish in."""
    outcomes: list = [None] * len(work)
    for index, outcome in progress(_outcomes(work, job, settings, desc), len(work), desc):
        outcomes[index] = outcome
    for (row, *_), outcome in zip(work, outcomes):
        if isinstance(outcome, StepFailed):
            report.failures.append((row.video_id, row.clip_id, outcome.step, str(outcome)))
        else:
            report.extracted.append(row)
            report.warnings += [(row.video_id, row.clip_id, "warning", w) for w in outcome]


def _outcomes(work: list[tuple], job: Callable, settings: TranscribeConfig | FeaturesConfig, desc: str) -> Iterator[tuple[int, object]]:
    """(index into `work`, warnings or StepFailed) per job as they finish: in this process, in a
    process pool (`workers` > 1), or on Ray actors (`executor: ray`)."""
    if not work:
        return
    if settings.executor == "ray":
        from .ray_executor import Access, Pool, ray_outcomes  # Ray is an optional extra

        pool = Pool(desc, settings.workers, settings.threads, settings.actor, settings.ray_address)
        # What every actor must be able to read: the first clip this process can (label.csv if none).
        first = next((item[1].media for item in work if item[1].media and item[1].media.is_file()), Path(settings.data) / "label.csv")
        yield from ray_outcomes(work, job, pool, Access(first, Path(settings.out), Path(settings.cache)), _discard_partial)
    elif settings.workers <= 1:
        set_threads(1, settings.threads)
        for index, item in enumerate(work):
            yield index, job(*item)
    else:
        # spawn, not fork: torch and ctranslate2 thread pools do not survive a fork. Each worker takes
        # its share of the cores, as a Ray actor takes its `actor.cpus`.
        with ProcessPoolExecutor(settings.workers, mp_context=get_context("spawn"), initializer=set_threads,
                                 initargs=(settings.workers, settings.threads)) as pool:
            futures = {pool.submit(job, *item): index for index, item in enumerate(work)}
            for future in as_completed(futures):
                yield futures[future], future.result()


def _features_job(row: Row, source: ClipInput, asr: TranscribeConfig, settings: FeaturesConfig):
    try:
        extraction = extract_clip(source, asr, settings, PartCache(Path(settings.cache)))
        _save_if_changed(extraction, Path(settings.out) / row.video_id / row.clip_id)
    except StepFailed as failure:
        return failure
    return extraction.warnings


def _transcribe_job(row: Row, source: ClipInput, asr: TranscribeConfig):
    try:
        extraction = transcribe_clip(source, asr, PartCache(Path(asr.cache)))
        write_transcript(extraction.clip.transcript, Path(asr.out) / row.video_id / f"{row.clip_id}.json")
    except StepFailed as failure:
        return failure
    return extraction.warnings


def _discard_partial(item: tuple) -> None:
    """Remove the half-written files a killed attempt at this clip may have left: in its output and
    in its cache folder (a finished file is whole: every write is atomic)."""
    row, source, settings = item[0], item[1], item[-1]
    out = Path(settings.out) / row.video_id
    if isinstance(settings, FeaturesConfig):
        remove_partial(out / row.clip_id)
    else:
        remove_partial(out, f"{row.clip_id}.json")
    try:
        remove_partial(PartCache(Path(settings.cache)).folder(content_of(source)))
    except OSError:  # the clip cannot be read: then nothing of it was cached either
        pass


def _save_if_changed(extraction: Extraction, folder: Path) -> None:
    """Rewrite the clip folder only when its key changed, so a rerun touches nothing."""
    key_file = folder / KEY_FILE
    if key_file.is_file() and key_file.read_text() == extraction.key and (folder / TRANSCRIPT).is_file():
        return
    key_file.unlink(missing_ok=True)
    save_clip(extraction.clip, folder)
    atomic_write_bytes(key_file, extraction.key.encode())


def _write_tables(out: Path, report: Report, shard: tuple[int, int], with_clips: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if with_clips:
        sublabels = [c for c in SUBLABELS if report.extracted and c in report.extracted[0].sublabels]
        header = ["video_id", "clip_id", "label", "mode", "folder", *sublabels]
        lines = [[r.video_id, r.clip_id, r.label, r.mode, f"{r.video_id}/{r.clip_id}", *(r.sublabels[c] for c in sublabels)] for r in report.extracted]
        _write_csv(out / table_name("clips", shard), header, lines)
    _write_csv(out / table_name("failures", shard), TABLE_COLUMNS, report.failures)
    _write_csv(out / table_name("warnings", shard), TABLE_COLUMNS, report.warnings)


def _write_csv(path: Path, header, lines) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(lines)
    atomic_write_bytes(path, buffer.getvalue().encode())
