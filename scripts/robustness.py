"""Robustness curves on the synthetic set: DSRF and DSRF w/o USF under a dropped or noised modality.

    .venv/bin/python scripts/robustness.py [--seeds 1111 1112 1113] [--noise-std 2]

The two models are the `full` and `w/o USF` rows of `scripts/ablations.py --corpus synthetic`
(trained here if that has not run; the same folders, so neither trains twice). Each seed's
checkpoint is scored on the test split while one modality is dropped (presence mask false) or
given Gaussian noise for 0, 25, 50, 75, 100 % of the clips (pipeline/robustness.py: the same
clips for both models). Writes data/evidence/robustness.json and docs/figures/robustness_<kind>.png
(MAE and Corr vs fraction, mean over seeds).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.checkpoint import load_checkpoint, model_from_checkpoint  # noqa: E402
from pipeline.data.loader import make_loader  # noqa: E402
from pipeline.metrics import compute_metrics  # noqa: E402
from pipeline.robustness import KINDS, predict_perturbed  # noqa: E402
from scripts.ablations import FIGURES, corpus_store, run_row  # noqa: E402
from scripts.experiment import EVIDENCE, save_figure  # noqa: E402

MODELS = ("full", "w/o USF")
FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)
NAMES = {"t": "text", "a": "audio", "v": "vision"}


def curves(seeds: list[int], noise_std: float) -> dict:
    """{model: {kind: {modality: {"mae"|"corr": [mean over seeds per fraction], "..._std": [...]}}}}."""
    store = corpus_store("synthetic")
    result: dict = {}
    for row in MODELS:
        folder, _ = run_row("synthetic", row, seeds)
        models = [model_from_checkpoint(load_checkpoint(folder / "models" / f"seed_{s}.pt")) for s in seeds]
        loader = make_loader(store, "test", 100, shuffle=False, modalities=models[0].config.modalities)
        jobs = [(kind, m) for kind in KINDS for m in models[0].config.modalities]
        for kind, m in tqdm(jobs, desc=row):
            scores = np.array([[
                [compute_metrics(*predict_perturbed(model, loader, m, kind, f, noise_std=noise_std), "mosi")[k] for k in ("mae", "corr")]
                for f in FRACTIONS] for model in models])  # (seeds, fractions, 2)
            result.setdefault(row, {}).setdefault(kind, {})[m] = {
                "mae": scores[..., 0].mean(0).tolist(), "mae_std": scores[..., 0].std(0).tolist(),
                "corr": scores[..., 1].mean(0).tolist(), "corr_std": scores[..., 1].std(0).tolist(),
            }
    return result


def plot(path: Path, result: dict, kind: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    x = [100 * f for f in FRACTIONS]
    for ax, metric in zip(axes, ("mae", "corr")):
        for row, color in zip(MODELS, ("tab:blue", "tab:orange")):
            for m, style in zip(result[row][kind], ("-", "--", ":")):
                curve = result[row][kind][m]
                ax.errorbar(x, curve[metric], yerr=curve[f"{metric}_std"], color=color, linestyle=style, marker="o",
                            markersize=3, capsize=2, label=f"{'DSRF' if row == 'full' else 'DSRF w/o USF'}, {NAMES[m]}")
        ax.set(xlabel=f"test clips with the modality {'dropped' if kind == 'drop' else 'noised'} (%)",
               ylabel=metric.upper(), xticks=x)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    save_figure(fig, path, title)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1111, 1112, 1113])
    parser.add_argument("--noise-std", type=float, default=2.0, help="std of the added noise, in feature stds (inputs are z-scored)")
    args = parser.parse_args()
    result = curves(args.seeds, args.noise_std)
    (EVIDENCE / "robustness.json").write_text(json.dumps({"noise_std": args.noise_std, "seeds": args.seeds, "curves": result}, indent=1))
    for kind in KINDS:
        what = "dropped" if kind == "drop" else f"noised (N(0, {args.noise_std:g}²) added)"
        plot(FIGURES / f"robustness_{kind}.png", result, kind, f"Synthetic set, test: one modality {what}, {len(args.seeds)} seeds")
    header = "| model | perturbed | " + " | ".join(f"{100 * f:.0f} %" for f in FRACTIONS) + " |"
    for kind in KINDS:
        print(f"\n{kind}: test MAE (mean over seeds) vs fraction of clips hit\n{header}\n" + "|---" * (len(FRACTIONS) + 2) + "|")
        for row in MODELS:
            for m, curve in result[row][kind].items():
                print(f"| {'DSRF' if row == 'full' else 'DSRF w/o USF'} | {NAMES[m]} | " + " | ".join(f"{v:.3f}" for v in curve["mae"]) + " |")
    print(f"figures: {FIGURES}/robustness_*.png")


if __name__ == "__main__":
    main()
