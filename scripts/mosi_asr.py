"""MOSI text with its real ASR transcripts: the dataset builder, and runs scored on each transcript.

    .venv/bin/python scripts/mosi_asr.py build --csv mosi_asr_train_valid.csv     # the dataset folder + per-clip WER
    .venv/bin/python scripts/mosi_asr.py run                                      # train on gold, score valid on every transcript
    .venv/bin/python scripts/mosi_asr.py run --train-on text ibm speechbrain iflytek   # ASR augmentation
    .venv/bin/python scripts/mosi_asr.py run --set features.text.model=all-mpnet-base-v2 --set train.tune_text_layers=1
    .venv/bin/python scripts/mosi_asr.py table                                    # every run so far
    .venv/bin/python scripts/mosi_asr.py trust                                    # confidence and uncertainty per transcript
    .venv/bin/python scripts/mosi_asr.py cv [--set KEY=VALUE ...]                 # 5-fold CV over train+valid, folds by video
    .venv/bin/python scripts/mosi_asr.py cv-table                                 # every setting cross-validated so far

--csv has one row per MOSI train/valid segment: video_id, clip_id, mode, label, gold, ibm,
speechbrain, iflytek (the gold transcript and three ASR systems' output). `build` writes it as a
text-only dataset with several transcripts (docs/datasets.md, "Several transcripts per clip"):
`label.csv` with `text` (gold) and `text_ibm`, `text_speechbrain`, `text_iflytek`, and `wer.csv`,
each clip's word error rate of each ASR source against gold, under data/evidence/mosi_asr/raw/
(gitignored: the data is never copied into the tracked project). `run` goes through the chain's own
stages (`pipeline features` encoding every transcript, `pipeline tensors`, `pipeline train` with
`train.transcripts`, then `pipeline evaluate` once per transcript with `evaluate.transcript`), in
one folder per setting under data/evidence/mosi_asr/; everything is selected on valid (the test
segments are not in this data). `build_dataset` and `evaluate_sources` are what other evidence
scripts import.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import random
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
import yaml
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.checkpoint import load_checkpoint, model_from_checkpoint  # noqa: E402
from pipeline.inference import split_loader  # noqa: E402
from pipeline.transcripts import DEFAULT, PREFIX, word_error_rate  # noqa: E402
from pipeline.data.clips import CLIPS_CSV  # noqa: E402
from pipeline.features.clip import EXTRACTION, atomic_write_bytes  # noqa: E402
from scripts.experiment import EVIDENCE, TRAIN_SECONDS, mean_std, parse_override, stage, text_dataset_params, train_and_evaluate, with_overrides  # noqa: E402

WORK = EVIDENCE / "mosi_asr"
ASR = ("ibm", "speechbrain", "iflytek")
COLUMNS = ("video_id", "clip_id", "mode", "label", "gold", *ASR)
SOURCES = (DEFAULT, *ASR)  # `text` is gold
SEEDS = [1111, 1112, 1113, 1114, 1115]
# The setting of docs/results.md's MOSI text section (chosen on valid there), which ran with the
# paper's USF settings: probe untrained, temperature 1, ambiguity read from r_a.
CHOSEN = {"train.lr": 0.0005, "train.patience": 4, "loss.w_probe": 0.0, "model.usf_temperature": 1.0, "model.ambiguity_reads": "ambiguity"}
SHOWN = ("mae", "corr", "acc2_non0")
RESULT = "result.json"  # in each run's folder: its setting, seeds, valid summaries per transcript, timing


def read_asr_csv(path: Path) -> list[dict[str, str]]:
    """The rows of the ASR table; a missing file or column is a one-line error naming it."""
    if not path.is_file():
        raise ValueError(f"{path}: not found (the MOSI ASR table: {', '.join(COLUMNS)})")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing} (expected {', '.join(COLUMNS)})")
        return list(reader)


def dataset_rows(rows: list[dict[str, str]]) -> tuple[list[list[str]], list[list[str]]]:
    """(label.csv rows, wer.csv rows) of the ASR table's rows: gold is `text`, each ASR system `text_<source>`."""
    labels, errors = [], []
    for row in rows:
        labels.append([row["video_id"], row["clip_id"], row["gold"], *(row[s] for s in ASR), row["label"], row["mode"]])
        errors.append([row["video_id"], row["clip_id"], row["mode"], len(row["gold"].split()),
                       *(f"{word_error_rate(row['gold'], row[s]):.4f}" for s in ASR)])
    return labels, errors


def build_dataset(csv_path: Path, folder: Path = WORK / "raw") -> Path:
    """Write `<folder>/label.csv` (a text-only dataset with four transcripts) and `<folder>/wer.csv`
    (per clip, each ASR source's word error rate against gold); both atomically. Returns `folder`."""
    labels, errors = dataset_rows(read_asr_csv(Path(csv_path)))
    folder.mkdir(parents=True, exist_ok=True)
    label_header = ["video_id", "clip_id", DEFAULT, *(PREFIX + s for s in ASR), "label", "mode"]
    atomic_write_bytes(folder / "label.csv", csv_text(label_header, labels))
    atomic_write_bytes(folder / "wer.csv", csv_text(["video_id", "clip_id", "mode", "gold_words", *(f"wer_{s}" for s in ASR)], errors))
    return folder


def csv_text(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def corpus_wer(folder: Path) -> dict[str, dict[str, float]]:
    """{split: {source: word errors / gold words}} from `<folder>/wer.csv` (each clip weighted by its gold words)."""
    with open(folder / "wer.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    result = {}
    for split in sorted({r["mode"] for r in rows}):
        words = np.array([float(r["gold_words"]) for r in rows if r["mode"] == split])  # (N,)
        result[split] = {s: round(float(np.array([float(r[f"wer_{s}"]) for r in rows if r["mode"] == split]) @ words / words.sum()), 3)
                         for s in ASR}
    return result


def store_name(params: dict) -> str:
    """One features folder and store per text encoder setting (the rest of the params do not change them)."""
    text = params["features"]["text"]
    return "store-" + hashlib.sha256(json.dumps(text, sort_keys=True).encode()).hexdigest()[:8]


def build_store(params: dict) -> dict:
    """The features and tensors stages for this text setting; the params pointing at its store."""
    name = store_name(params)
    params = with_overrides(params, {"features.out": str(WORK / name / "features"), "tensors.out": str(WORK / name / "store"),
                                     "train.store": str(WORK / name / "store")})
    (WORK / name).mkdir(parents=True, exist_ok=True)
    path = WORK / name / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    stage("features", path, WORK / name)
    stage("tensors", path, WORK / name)
    return params


def evaluate_sources(folder: Path, params: dict, sources: tuple[str, ...] = SOURCES) -> dict[str, dict]:
    """`pipeline evaluate` of the run in `folder` once per transcript source (`evaluate.transcript`),
    each into its own metrics file; {source: valid summary}. A source scored with identical params is not rescored."""
    results = {}
    for source in sources:
        own = with_overrides(params, {"evaluate.transcript": source, "evaluate.metrics": f"metrics_{source}.json",
                                      "evaluate.seed_metrics": f"metrics_seeds_{source}.json", "evaluate.plots": f"plots_{source}"})
        text = yaml.safe_dump(own, sort_keys=True)
        path, summary = folder / f"params_{source}.yaml", folder / f"metrics_seeds_{source}.json"
        if not (path.is_file() and path.read_text() == text and summary.is_file()):
            summary.unlink(missing_ok=True)
            path.write_text(text)
            stage("evaluate", path, folder)
        results[source] = json.loads(summary.read_text())["valid"]
    return results


def epochs_run(folder: Path) -> int:
    """Epochs trained over all seeds (the rows of each seed's valid MAE curve, dvclive): the train
    stage's seconds over these are the seconds per epoch, train and valid scoring, model loading included."""
    curves = (folder / "dvclive" / "plots" / "metrics").glob("seed_*/valid/mae.tsv")
    return sum(len(path.read_text().splitlines()) - 1 for path in curves)


def run_name(overrides: dict) -> str:
    return "run-" + hashlib.sha256(json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:10]


def describe(overrides: dict) -> str:
    """A run's encoder and tuning in words; other overrides than CHOSEN's are listed as they are."""
    encoder = "MPNet" if overrides.get("features.text.model") == "all-mpnet-base-v2" else overrides.get("features.text.model", "MiniLM")
    k = overrides.get("train.tune_text_layers", 0)
    tuning = f"top {k}, text lr {overrides.get('train.text_lr', 2e-5):g}" if k else "full, text lr" if overrides.get("train.finetune_text") else "frozen"
    known = {*CHOSEN, "features.text.model", "features.text.top_layers", "train.tune_text_layers", "train.text_lr"}
    rest = {key: value for key, value in overrides.items() if key not in known or (key in CHOSEN and value != CHOSEN[key])}
    return f"{encoder}, {tuning}" + ("; " + ", ".join(f"{key.partition('.')[2]}={value}" for key, value in rest.items()) if rest else "")


def table(runs: dict) -> str:
    """One row per run and transcript source it was scored on."""
    lines = ["| encoder, tuning | trained on | seeds | s/epoch | scored on | valid MAE | Corr | Acc2 (non-0) |", "|---" * 8 + "|"]
    for run in runs.values():
        for source, summary in run["valid"].items():
            cells = [mean_std(summary, m) for m in SHOWN]
            lines.append(f"| {describe(run['set'])} | {', '.join(run['train_on'])} | {len(run['seeds'])} | {run['seconds_per_epoch']:.1f} | "
                         f"{source} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rises(runs: dict) -> str:
    """Per run scored on gold and every ASR source: the mean over ASR sources of the valid MAE rise
    over its own gold MAE (mean over seeds of each)."""
    lines = ["| encoder, tuning | trained on | gold MAE | mean ASR MAE | rise |", "|---" * 5 + "|"]
    for run in runs.values():
        if set(SOURCES) <= set(run["valid"]):
            gold, asr = run["valid"][DEFAULT]["mae"], float(np.mean([run["valid"][s]["mae"] for s in ASR]))
            lines.append(f"| {describe(run['set'])} | {', '.join(run['train_on'])} | {gold:.3f} | {asr:.3f} | {asr - gold:+.3f} |")
    return "\n".join(lines)


def read_wer(folder: Path = WORK / "raw") -> dict[str, dict[str, float]]:
    """{clip id: {ASR source: the clip's word error rate against gold}} from `build`'s wer.csv."""
    with open(folder / "wer.csv", newline="", encoding="utf-8") as handle:
        return {f"{r['video_id']}/{r['clip_id']}": {s: float(r[f"wer_{s}"]) for s in ASR} for r in csv.DictReader(handle)}


@torch.no_grad()
def text_signals(folder: Path, params: dict, source: str) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """Valid read from `source`, mean over the run's seeds: (clip ids, the text modality's raw USF
    uncertainties (N, 4), the expected absolute error (N,) where the models have an error head)."""
    train = params["train"]
    uncertainties, errors, ids = [], [], []
    for seed in train["seeds"]:
        model = model_from_checkpoint(load_checkpoint(folder / train["out"] / f"seed_{seed}.pt")).eval()
        u, e, ids = [], [], []
        for batch in split_loader(model, Path(train["store"]), "valid", 256, source):
            out = model(batch.inputs, batch.lengths, batch.present, tokens=batch.tokens, index=batch.index)
            u.append(out.uncertainty[:, model.config.modalities.index("t")].numpy())  # (B, 4)
            e.append(None if out.expected_error is None else out.expected_error.numpy())
            ids += batch.ids
        uncertainties.append(np.concatenate(u))
        errors.append(None if e[0] is None else np.concatenate(e))
    error = None if errors[0] is None else np.mean(errors, axis=0)
    return ids, np.mean(uncertainties, axis=0), error


def trust_rows(name: str, run: dict, wer: dict[str, dict[str, float]]) -> list[str]:
    """Per transcript source a run was scored on: the risk–coverage of its confidence against the
    seed spread and a random ranking (MAE of the 50 % most confident clips over the MAE of all, AURC),
    and, for an ASR source, Spearman's ρ per clip between the clip's WER and each text uncertainty
    and the expected error."""
    params = yaml.safe_load((WORK / name / "params.yaml").read_text())
    rows = []
    for source in run["valid"]:
        summary = json.loads((WORK / name / f"metrics_seeds_{source}.json").read_text())["valid"]
        ranked = summary["risk_coverage"]
        mine = next(k for k in ranked if k.startswith("confidence"))
        ratio = {k: f"{v['mae@50'] / v['mae@100']:.3f} ({v['aurc']:.3f})" for k, v in ranked.items()}
        rho = ["–"] * 5
        if source in ASR:
            ids, u, e = text_signals(WORK / name, params, source)
            rates = np.array([wer[i][source] for i in ids])
            rho = [f"{spearmanr(rates, u[:, k]).statistic:+.2f}" for k in range(4)]
            rho.append("–" if e is None else f"{spearmanr(rates, e).statistic:+.2f}")
        rows.append(f"| {describe(run['set'])} | {source} | {summary['ensemble']['mae']:.3f} | {mine[len('confidence '):]} "
                    f"{ratio[mine]} | {ratio['seed spread']} | {ratio['random']} | " + " | ".join(rho) + " |")
    return rows


def trust(runs: dict) -> str:
    lines = ["| encoder, tuning, USF | scored on | ensemble MAE | confidence: MAE@50/MAE (AURC) | seed spread | random "
             "| ρ(WER, u_e) | ρ(WER, u_c) | ρ(WER, u_a) | ρ(WER, u_n) | ρ(WER, expected error) |", "|---" * 11 + "|"]
    wer = read_wer()
    for name, run in runs.items():
        lines += trust_rows(name, run, wer)
    return "\n".join(lines)


FOLDS = 5
CV_SEEDS = [1111, 1112, 1113]


def video_folds(videos: list[str], k: int = FOLDS, seed: int = 0) -> list[list[str]]:
    """The videos shuffled once (seeded) and dealt into k folds: a video's clips, and so its
    speaker (MOSI has one per video), are never in two folds."""
    order = sorted(videos)
    random.Random(seed).shuffle(order)
    return [order[i::k] for i in range(k)]


def fold_dataset(features: Path, out: Path, held: set[str]) -> Path:
    """`out`/clips.csv over the features stage's clips: mode valid for the videos `held`, train for
    the rest, each folder pointing at the features' own (nothing is copied); with its extraction record."""
    with open(features / CLIPS_CSV, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out.mkdir(parents=True, exist_ok=True)
    for row in rows:
        row["mode"] = "valid" if row["video_id"] in held else "train"
        row["folder"] = os.path.relpath(features / row["folder"], out)
    atomic_write_bytes(out / CLIPS_CSV, csv_text(list(rows[0]), [list(r.values()) for r in rows]))
    shutil.copyfile(features / EXTRACTION, out / EXTRACTION)
    return out


def cross_validate(overrides: dict, seeds: list[int]) -> list[dict]:
    """Train and score one setting on each of the 5 folds of train+valid (the fold held out is the
    valid split: selection and scoring both read it, alike for every setting); valid summaries per fold."""
    params = build_store(with_overrides(text_dataset_params(WORK), {**overrides, "train.seeds": seeds}))
    features = Path(params["features"]["out"])
    with open(features / CLIPS_CSV, newline="", encoding="utf-8") as handle:
        videos = sorted({row["video_id"] for row in csv.DictReader(handle)})
    summaries = []
    for k, held in enumerate(video_folds(videos)):
        fold = WORK / "cv" / store_name(params) / f"fold_{k}"
        data = fold_dataset(features, fold / "data", set(held))
        own = with_overrides(params, {"data.path": str(data), "tensors.out": str(fold / "store"), "train.store": str(fold / "store")})
        (fold / "params.yaml").write_text(yaml.safe_dump(own, sort_keys=False))
        stage("tensors", fold / "params.yaml", fold)
        summaries.append(train_and_evaluate(WORK / "cv" / run_name({**overrides, "train.seeds": seeds, "fold": k}), own)["valid"])
    return summaries


def cv_table(results: dict) -> str:
    """Per setting: each fold's valid MAE (mean over seeds), the mean ± std over folds of MAE and
    Corr, and the mean ± std over folds of its MAE minus the first setting's on the same fold."""
    lines = ["| setting | " + " | ".join(f"fold {k} MAE" for k in range(FOLDS)) + " | MAE | Corr | ΔMAE vs first row |",
             "|---" * (FOLDS + 4) + "|"]
    first = None
    for result in results.values():
        mae = np.array([fold["mae"] for fold in result["folds"]])
        corr = np.array([fold["corr"] for fold in result["folds"]])
        first = mae if first is None else first
        delta = mae - first
        lines.append(f"| {describe(result['set'])} | " + " | ".join(f"{m:.3f}" for m in mae)
                     + f" | {mae.mean():.3f} ± {mae.std(ddof=1):.3f} | {corr.mean():.3f} ± {corr.std(ddof=1):.3f} | "
                     + f"{delta.mean():+.3f} ± {delta.std(ddof=1):.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="write the dataset folder and the per-clip WER")
    build.add_argument("--csv", type=Path, required=True, help="the ASR table (video_id, clip_id, mode, label, gold, ibm, speechbrain, iflytek)")
    build.add_argument("--out", type=Path, default=WORK / "raw", help="the dataset folder (default: %(default)s)")
    run = commands.add_parser("run", help="train (every seed), then score valid on each transcript")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a params override, e.g. train.lr=1e-3")
    run.add_argument("--train-on", nargs="+", default=[DEFAULT], metavar="SOURCE",
                     help="train.transcripts: the sources drawn per clip and epoch (default: text, the gold one)")
    run.add_argument("--score-on", nargs="+", default=list(SOURCES), metavar="SOURCE", help="evaluate.transcript values")
    run.add_argument("--seeds", type=int, nargs="+", default=SEEDS)
    commands.add_parser("table", help="print every run so far, and each one's MAE rise on ASR transcripts")
    cv = commands.add_parser("cv", help="5-fold cross-validation over train+valid, folds split by video")
    cv.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a params override")
    cv.add_argument("--seeds", type=int, nargs="+", default=CV_SEEDS)
    commands.add_parser("cv-table", help="every setting cross-validated so far")
    commands.add_parser("trust", help="per run and transcript: the confidence's risk–coverage, and the text uncertainty against WER")
    args = parser.parse_args()

    try:
        if args.command == "build":
            folder = build_dataset(args.csv, args.out)
            print(f"{folder / 'label.csv'}, {folder / 'wer.csv'}; WER against gold: {json.dumps(corpus_wer(folder))}")
        elif args.command == "cv":
            overrides = {**CHOSEN, **dict(parse_override(text) for text in args.set)}
            folds = cross_validate(overrides, args.seeds)
            result = {"set": overrides, "seeds": args.seeds, "folds": folds}
            (WORK / "cv" / f"{run_name({**overrides, 'train.seeds': args.seeds})}.json").write_text(json.dumps(result, indent=1))
            print(cv_table({"this": result}))
        elif args.command == "cv-table":
            print(cv_table({path.stem: json.loads(path.read_text()) for path in sorted((WORK / "cv").glob("run-*.json"), key=os.path.getmtime)}))
        elif args.command in ("table", "trust"):
            runs = {path.parent.name: json.loads(path.read_text()) for path in sorted(WORK.glob(f"run-*/{RESULT}"))}
            print(table(runs) + "\n\n" + rises(runs) if args.command == "table" else trust(runs))
        else:
            overrides = {**CHOSEN, **dict(parse_override(text) for text in args.set), "train.transcripts": args.train_on}
            # Overrides first: features.* ones choose the features and store this run reads.
            params = build_store(with_overrides(text_dataset_params(WORK), {**overrides, "train.seeds": args.seeds}))
            name = run_name({**overrides, "train.seeds": args.seeds})
            train_and_evaluate(WORK / name, params)
            valid = evaluate_sources(WORK / name, params, tuple(args.score_on))
            seconds, epochs = float((WORK / name / TRAIN_SECONDS).read_text()), epochs_run(WORK / name)
            result = {"set": {k: v for k, v in overrides.items() if k != "train.transcripts"}, "train_on": args.train_on,
                      "seeds": args.seeds, "valid": valid, "train_seconds": seconds, "epochs": epochs,
                      "seconds_per_epoch": seconds / max(1, epochs)}
            (WORK / name / RESULT).write_text(json.dumps(result, indent=1))
            print(table({name: result}))
            print(f"per seed: {WORK / name}/metrics_seeds_<source>.json")
    except ValueError as error:
        raise SystemExit(str(error)) from None


if __name__ == "__main__":
    main()
