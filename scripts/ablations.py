"""The paper's Table 3 rows (full, w/o HSF, w/o DRI, w/o USF, w/o each modality) on one corpus.

    .venv/bin/python scripts/ablations.py --corpus synthetic --seeds 1111 1112 1113
    .venv/bin/python scripts/ablations.py --corpus demo                # the demo store: run `make demo` first

Each row is params.yaml with one override (`model.use_hsf: false`, `data.modalities: [a, v]`, ...),
trained with `pipeline train` (every seed, selection on valid) and scored with `pipeline evaluate`,
each in its own folder under data/evidence/ablations/<corpus>/ (a finished row is not rerun).
Writes <corpus>.json and <corpus>.md there (the table) and docs/figures/ablation_<corpus>.png.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.data.store import MANIFEST  # noqa: E402
from scripts.experiment import EVIDENCE, ROOT, mean_std, project_params, save_figure, train_and_evaluate, with_overrides  # noqa: E402
from scripts.synthetic_multimodal import ensure_store  # noqa: E402

ROWS = {
    "full": {},
    "w/o HSF": {"model.use_hsf": False},
    "w/o DRI": {"model.use_dri": False},
    "w/o USF": {"model.use_usf": False},
    "w/o text": {"data.modalities": ["a", "v"]},
    "w/o audio": {"data.modalities": ["t", "v"]},
    "w/o vision": {"data.modalities": ["t", "a"]},
}
CORPORA = ("demo", "synthetic")
FIGURES = ROOT / "docs" / "figures"
SHOWN = ("mae", "corr", "acc2_non0", "acc7")


def corpus_store(corpus: str) -> Path:
    if corpus == "synthetic":
        return ensure_store()
    store = ROOT / project_params()["tensors"]["out"]
    if not (store / MANIFEST).is_file():
        raise SystemExit(f"{store}: no demo store; run `make demo` (or `dvc repro tensors`) first")
    return store


def slug(row: str) -> str:
    return row.replace("w/o ", "without_").replace(" ", "_")


def run_row(corpus: str, row: str, seeds: list[int], extra: dict | None = None) -> tuple[Path, dict]:
    """(the row's run folder, its metrics summary); trains only what is not done yet."""
    folder = EVIDENCE / "ablations" / corpus / slug(row)
    overrides = {**ROWS[row], **(extra or {}), "train.store": str(corpus_store(corpus)), "train.seeds": seeds,
                 "evaluate.splits": ["valid", "test"]}
    return folder, train_and_evaluate(folder, with_overrides(project_params(), overrides))


def markdown(results: dict[str, dict], split: str) -> str:
    full = results["full"][split]["mae"]
    lines = [f"| row | {split} " + f" | {split} ".join(SHOWN) + " | Δ MAE vs full |", "|---" * (len(SHOWN) + 2) + "|"]
    for row, metrics in results.items():
        summary = metrics[split]
        delta = "" if row == "full" else f"{summary['mae'] - full:+.3f}"
        lines.append(f"| {row} | " + " | ".join(mean_std(summary, m) for m in SHOWN) + f" | {delta} |")
    return "\n".join(lines)


def bar_plot(path: Path, results: dict[str, dict], split: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(results)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, metric in zip(axes, ("mae", "corr")):
        means = [results[r][split][metric] for r in rows]
        stds = [results[r][split][f"{metric}_std"] for r in rows]
        ax.bar(rows, means, yerr=stds, capsize=3, color=["tab:blue"] + ["tab:gray"] * (len(rows) - 1))
        ax.set(title=f"{split} {metric.upper()} ({'lower' if metric == 'mae' else 'higher'} is better)")
        ax.tick_params(axis="x", rotation=40)
    save_figure(fig, path, title)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=CORPORA, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1111, 1112, 1113])
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    args = parser.parse_args()
    results = {}
    for row in args.rows:
        print(f"== {args.corpus}: {row}", flush=True)
        results[row] = run_row(args.corpus, row, args.seeds)[1]
    out = EVIDENCE / "ablations"
    (out / f"{args.corpus}.json").write_text(json.dumps(results, indent=1))
    text = markdown(results, "test")
    (out / f"{args.corpus}.md").write_text(text + "\n")
    bar_plot(FIGURES / f"ablation_{args.corpus}.png", results, "test",
             f"Ablations, {args.corpus} corpus, test split, {len(args.seeds)} seeds (mean ± std)")
    print(text)
    print(f"figure: {FIGURES / f'ablation_{args.corpus}.png'}")


if __name__ == "__main__":
    main()
