"""Does DSRF earn its complexity where reliability varies per clip? The table, the curves, the explanations.

    .venv/bin/python scripts/reliability.py --table                                     # every row, then the tables and figures
    .venv/bin/python scripts/reliability.py --training perturbation --models DSRF concat  # train a part (two processes share a machine)
    .venv/bin/python scripts/reliability.py --explain-grid --seeds 1111 1112 1113      # the USF options, on valid

The benchmark is pipeline/data/synthetic.py (`reliability_source`): 1,500 / 300 / 300 clips whose modalities are each
clean, noisy (20 %), conflicting (20 %) or missing (10 %), the label from the clip's sentiment
alone. Four stores share one seed: `stressed` (every split so), `clean` (the same train and valid,
a clean test split), and the oracle's two (every noisy or conflicting modality marked missing: a
model told which modality is unreliable). Each row is params.yaml with its overrides, trained by
`pipeline train` (every seed, selection on the stressed valid split) without and with training-time
perturbation, and scored by `pipeline evaluate` on the stressed and on the clean test split.
Then, per row, the robustness curves (one modality dropped or noised for 0-100 % of the clean test
clips, pipeline/robustness.py) and, for DSRF, how well its weights and uncertainties pick out the
corrupted modalities of the stressed test clips and agree with occlusion (pipeline/explanations.py).
Runs live under data/evidence/reliability/ (a finished one is not rerun); the tables (results,
curves, explanation measures, per training) go to data/evidence/reliability/*.md and the figures
to docs/figures/reliability_*.png.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import yaml
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.checkpoint import load_checkpoint, model_from_checkpoint  # noqa: E402
from pipeline.data.build import write_store  # noqa: E402
from pipeline.data.config import DataConfig, TensorConfig  # noqa: E402
from pipeline.data.loader import make_loader  # noqa: E402
from pipeline.data.store import MANIFEST  # noqa: E402
from pipeline.data.synthetic import STEPS, Rates, directions, reliability_source  # noqa: E402
from pipeline.explanations import auc, occlusion, rank_agreement  # noqa: E402
from pipeline.metrics import compute_metrics  # noqa: E402
from pipeline.modalities import MODALITIES  # noqa: E402
from pipeline.model import FACTORS, MODEL_NAMES, DSRFOutput  # noqa: E402
from pipeline.robustness import KINDS, predict_perturbed  # noqa: E402
from scripts.experiment import EVIDENCE, ROOT, mean_std, project_params, save_figure, stage, train_and_evaluate, with_overrides  # noqa: E402

WORK = EVIDENCE / "reliability"
FIGURES = ROOT / "docs" / "figures"
SIZES = {"train": 1500, "valid": 300, "test": 300}
STRESS = Rates(noisy=0.2, conflicting=0.2, missing=0.1)
# Smaller than params.yaml's model and schedule: the table trains ~100 runs on a CPU.
BASE = {"data.modalities": ["t", "a", "v"], "data.dataset": "mosi", "model.hidden": 64, "train.epochs": 15,
        "train.patience": 5, "train.threads": 1, "evaluate.splits": ["valid", "test"]}
MODELS = {
    "DSRF": {},
    "DSRF w/o HSF": {"model.use_hsf": False},
    "DSRF w/o DRI": {"model.use_dri": False},
    "DSRF w/o USF": {"model.use_usf": False},
    "DSRF + flag loss": {"loss.w_flag": 1.0},
    "DSRF + trust loss": {"loss.w_trust": 5.0},
    **{name: {"model.name": name} for name in MODEL_NAMES if name != "dsrf"},
}
PERTURBATION_ONLY = ("DSRF + flag loss",)  # it learns from what the perturbation corrupted: without one it is DSRF
ORACLE = "oracle: DSRF told which modality is unreliable"  # `--models oracle` trains it; every table shows it
TRAINING = {"no perturbation": {},
            "perturbation": {"train.modality_dropout": 0.1, "train.feature_noise": 0.1, "train.feature_conflict": 0.1}}
# USF options for weights that discriminate (docs/model.md §5), chosen on valid: DSRF with perturbation.
EXPLAIN_GRID = {
    "paper (untrained probe, τ 1)": {},
    "probe trained": {"loss.w_probe": 1.0},
    "probe, τ 0.3": {"loss.w_probe": 1.0, "model.usf_temperature": 0.3},
    "probe, u_a reads r_e": {"loss.w_probe": 1.0, "model.ambiguity_reads": "emotion"},
    "probe, u_a reads r_e, τ 0.3": {"loss.w_probe": 1.0, "model.ambiguity_reads": "emotion", "model.usf_temperature": 0.3},
}
FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)
SHOWN = ("mae", "corr", "acc2_non0", "acc7")


def ensure_stores(seed: int = 0) -> dict[str, Path]:
    """The four stores (written once) and the statuses of every clip (statuses.json)."""
    stressed = {split: STRESS for split in SIZES}
    train_valid = {"train": STRESS, "valid": STRESS}
    plans = {"stressed": (stressed, False), "clean": (train_valid, False), "oracle": (stressed, True), "oracle_clean": (train_valid, True)}
    stores = {}
    for name, (rates, oracle) in plans.items():
        out = WORK / "stores" / name
        if not (out / MANIFEST).is_file():
            source, statuses = reliability_source(SIZES, rates, seed=seed, oracle=oracle)
            write_store(source, DataConfig(path=f"reliability {name}", dataset="mosi"), TensorConfig(out=str(out), max_len=dict(STEPS)), out)
            (out / "statuses.json").write_text(json.dumps(statuses))
        stores[name] = out
    return stores


def run(name: str, overrides: dict, store: Path, seeds: list[int], clean_store: Path) -> dict:
    """Train and evaluate one row in its folder; {"stressed": summary by split, "clean": test summary}."""
    folder = WORK / "runs" / slug(name)
    params = with_overrides(project_params(), {**BASE, **overrides, "train.store": str(store), "train.seeds": seeds})
    stressed = train_and_evaluate(folder, params)
    clean_file = folder / "clean" / "metrics_seeds.json"
    done = folder / "clean" / ".params.done"
    clean_params = with_overrides(params, {"train.store": str(clean_store), "evaluate.splits": ["test"],
                                           "evaluate.metrics": "clean/metrics.json", "evaluate.seed_metrics": "clean/metrics_seeds.json",
                                           "evaluate.plots": "clean/plots"})
    text = yaml.safe_dump(clean_params, sort_keys=True)
    if not (done.is_file() and done.read_text() == text and clean_file.is_file()):
        (folder / "clean").mkdir(parents=True, exist_ok=True)
        (folder / "clean" / "params.yaml").write_text(text)
        stage("evaluate", folder / "clean" / "params.yaml", folder)
        done.write_text(text)
    return {"stressed": stressed, "clean": json.loads(clean_file.read_text())["test"], "folder": str(folder)}


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


def checkpoints(result: dict, seeds: list[int]):
    for seed in seeds:
        yield seed, model_from_checkpoint(load_checkpoint(Path(result["folder"]) / "models" / f"seed_{seed}.pt"))


def curves(result: dict, store: Path, seeds: list[int]) -> dict:
    """{kind: {modality: [test MAE, mean over seeds, per fraction]}} on the store's test split."""
    out: dict = {kind: {} for kind in KINDS}
    loader = make_loader(store, "test", 300, shuffle=False)
    models = [model for _, model in checkpoints(result, seeds)]
    for kind in KINDS:
        for m in MODALITIES:
            maes = [[compute_metrics(*predict_perturbed(model, loader, m, kind, f, noise_std=2.0), "mosi")["mae"] for f in FRACTIONS]
                    for model in models]
            out[kind][m] = np.mean(maes, axis=0).tolist()
    return out


UNRELIABLE = ("noisy", "conflicting")


def present_statuses(statuses: dict[str, dict[str, str]], ids: list[str], present: np.ndarray) -> np.ndarray:
    """The status of every present modality (P,), clips in `ids` order, modalities in MODALITIES order."""
    return np.array([[statuses[clip][m] for m in MODALITIES] for clip in ids])[present]


def detection_aucs(score: np.ndarray, status: np.ndarray) -> dict[str, float]:
    """AUC of `score` (P,) for the unreliable modalities against the clean ones (key "−w"), and for
    each unreliable kind against the clean ones alone ("−w: noisy", "−w: conflicting")."""
    result = {"−w": auc(score, np.isin(status, UNRELIABLE))}
    for kind in UNRELIABLE:
        keep = np.isin(status, (kind, "clean"))
        result[f"−w: {kind}"] = auc(score[keep], status[keep] == kind)
    return result


@torch.no_grad()
def explanation_quality(result: dict, store: Path, seeds: list[int], split: str = "test") -> dict:
    """Per seed, on the stressed clips of `split`: AUC of −w and of each ũ for corrupted vs clean
    modalities, and the rank agreement of w with occlusion; then mean ± std over seeds."""
    statuses = json.loads((store / "statuses.json").read_text())
    per_seed = []
    for _, model in checkpoints(result, seeds):
        batch = next(iter(make_loader(store, split, 10_000, shuffle=False)))
        out = model.eval()(batch.inputs, batch.lengths, batch.present)
        if not isinstance(out, DSRFOutput):
            return {}
        present = batch.present.numpy()  # (B, M)
        status = present_statuses(statuses, batch.ids, present)
        weights, uncertainty = out.modality_weights.numpy(), out.uncertainty.numpy()  # (B, M), (B, M, 4)
        by_kind = detection_aucs(-weights[present], status)
        seed_result = ({"−w": by_kind.pop("−w")}
                       | {f"u {f}": auc(uncertainty[..., i][present], np.isin(status, UNRELIABLE)) for i, f in enumerate(FACTORS)}
                       | by_kind)
        seed_result["rank agreement w vs occlusion"] = rank_agreement(weights, occlusion(model, batch))[0]
        seed_result["w std over clips"] = float(weights[present].std())
        ambiguity = out.factor_weights[..., FACTORS.index("ambiguity")].numpy()[present]  # α_a of every present modality
        seed_result["α ambiguity: mean"] = float(ambiguity.mean())
        seed_result["α ambiguity: share > .05"] = float((ambiguity > 0.05).mean())
        per_seed.append(seed_result)
    return {k: (float(np.mean([s[k] for s in per_seed])), float(np.std([s[k] for s in per_seed], ddof=1) if len(per_seed) > 1 else 0.0))
            for k in per_seed[0]}


REFERENCE = "reference: a detector that knows how the data were made"


def reference_detection(store: Path, split: str = "test", seed: int = 0) -> dict[str, tuple[float, float]]:
    """The AUCs of a detector that knows the benchmark's recipe (no model): a modality whose frames
    are louder than twice the split's median is noisy (it ranks first); any other is scored by the
    distance of its sentiment a_m (the frames' mean projection on the known direction u_m) to the
    nearest of the clip's other quiet present modalities'. When two quiet modalities disagree, nothing
    tells which one is right: that bounds what any model can find of the conflicting ones."""
    statuses = json.loads((store / "statuses.json").read_text())
    batch = next(iter(make_loader(store, split, 10_000, shuffle=False)))
    toward = directions(seed)
    sentiment, energy = [], []
    for m in MODALITIES:
        x, valid = batch.inputs[m].numpy(), (torch.arange(batch.inputs[m].shape[1])[None] < batch.lengths[m][:, None]).numpy()
        frames = np.maximum(valid.sum(1), 1)  # (B,)
        sentiment.append(((x @ toward[m]) * valid).sum(1) / frames)
        energy.append(((x**2).mean(-1) * valid).sum(1) / frames)
    sentiment, energy = np.stack(sentiment, 1), np.stack(energy, 1)  # (B, M)
    present = batch.present.numpy()
    loud = present & (energy > 2 * np.median(energy[present]))
    quiet_others = (present & ~loud)[:, None, :] & ~np.eye(len(MODALITIES), dtype=bool)  # (B, M, M)
    distance = np.where(quiet_others, np.abs(sentiment[:, :, None] - sentiment[:, None, :]), np.inf).min(-1)  # (B, M)
    undecided = np.median(distance[np.isfinite(distance)])  # a modality with no quiet partner
    score = np.where(loud, np.inf, np.where(np.isfinite(distance), distance, undecided))[present]
    found = detection_aucs(score, present_statuses(statuses, batch.ids, present))
    return {k: (v, 0.0) for k, v in found.items()}


def table(rows: dict[str, dict], oracle: dict) -> str:
    header = ["model", *(f"stressed test {m}" for m in SHOWN), *(f"clean test {m}" for m in SHOWN[:2]), "valid mae"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for name, r in {**rows, ORACLE: oracle}.items():
        cells = [mean_std(r["stressed"]["test"], m) for m in SHOWN] + [mean_std(r["clean"], m) for m in SHOWN[:2]]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {mean_std(r['stressed']['valid'], 'mae')} |")
    return "\n".join(lines)


def gap_closed(rows: dict[str, dict], oracle: dict) -> str:
    """Per DSRF row: the share of the stressed test MAE gap from the concat floor to the oracle it closes."""
    floor, best = rows["concat"]["stressed"]["test"]["mae"], oracle["stressed"]["test"]["mae"]
    return "\n".join(f"{name}: closes {100 * (floor - r['stressed']['test']['mae']) / (floor - best):.0f} % of the gap "
                     f"from the concat floor ({floor:.3f}) to the oracle ({best:.3f})" for name, r in rows.items() if name.startswith("DSRF"))


def confidence_table(rows: dict[str, dict]) -> str:
    """Per row, on the stressed test split: MAE of the seed ensemble over the most confident 25/50/80/100 %
    of clips and the area under that curve, by each row's confidence, the seeds' spread and a random ranking."""
    lines = ["| model | ranking | MAE@25 | MAE@50 | MAE@80 | MAE@100 | AURC |", "|---" * 7 + "|"]
    for name, r in rows.items():
        for ranking, v in r["stressed"]["test"]["risk_coverage"].items():
            lines.append(f"| {name} | {ranking} | " + " | ".join(f"{v[k]:.3f}" for k in ("mae@25", "mae@50", "mae@80", "mae@100", "aurc")) + " |")
    return "\n".join(lines)


def curves_table(all_curves: dict[str, dict[str, dict]]) -> str:
    """Test MAE at each fraction of perturbed clean test clips, mean over the three modalities and the seeds."""
    lines = ["| model | perturbation | " + " | ".join(f"{100 * f:.0f} %" for f in FRACTIONS) + " |", "|---" * (2 + len(FRACTIONS)) + "|"]
    for kind in KINDS:
        for name, curve in all_curves.items():
            maes = np.mean([curve[kind][m] for m in MODALITIES], axis=0)
            lines.append(f"| {name} | {kind} | " + " | ".join(f"{v:.3f}" for v in maes) + " |")
    return "\n".join(lines)


def explanations_table(explanations: dict[str, dict]) -> str:
    """Per DSRF row: AUC of −w and of each ũ for corrupted against clean modalities, rank agreement, spread of w."""
    keys = list(next(iter(explanations.values())))
    lines = ["| model | " + " | ".join(f"AUC {k}" if k.startswith(("−w", "u ")) else k for k in keys) + " |", "|---" * (1 + len(keys)) + "|"]
    for name, e in explanations.items():
        lines.append(f"| {name} | " + " | ".join(f"{e[k][0]:.3f} ± {e[k][1]:.3f}" if k in e else "–" for k in keys) + " |")
    return "\n".join(lines)


def plot_curves(all_curves: dict[str, dict[str, dict]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(KINDS), figsize=(11, 4), sharey=True)
    for ax, kind in zip(axes, KINDS):
        for name, curve in all_curves.items():
            ax.plot([100 * f for f in FRACTIONS], np.mean([curve[kind][m] for m in MODALITIES], axis=0), marker="o", label=name)
        ax.set(title=f"one modality {'dropped' if kind == 'drop' else 'noised (std 2)'}", xlabel="% of test clips", ylabel="test MAE (mean over modalities and seeds)")
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7)
    save_figure(fig, path, title)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1111, 1112, 1113, 1114, 1115])
    parser.add_argument("--explain-grid", action="store_true", help="compare the USF options on valid (DSRF, perturbation on)")
    parser.add_argument("--training", choices=TRAINING, nargs="+", default=list(TRAINING), help="which half of the table")
    parser.add_argument("--models", choices=[*MODELS, "oracle"], nargs="+", default=[*MODELS, "oracle"],
                        help="rows to train (runs already done are read, not redone)")
    parser.add_argument("--table", action="store_true", help="then write the tables, curves and explanation measures of these rows")
    args = parser.parse_args()
    stores = ensure_stores()
    report: dict = {"seeds": args.seeds}
    if args.explain_grid:
        grid = {}
        for name, overrides in tqdm(EXPLAIN_GRID.items(), desc="USF options"):
            result = run(f"explain {name}", {**TRAINING["perturbation"], **overrides}, stores["stressed"], args.seeds, stores["clean"])
            grid[name] = {"valid": result["stressed"]["valid"], "explanations": explanation_quality(result, stores["stressed"], args.seeds, "valid")}
        (WORK / "explain_grid.json").write_text(json.dumps(grid, indent=1))
        lines = ["| USF option | valid mae | valid corr | AUC −w | AUC u ambiguity | rank agreement | w std |", "|---" * 7 + "|"]
        for name, g in grid.items():
            e = g["explanations"]
            lines.append(f"| {name} | {mean_std(g['valid'], 'mae')} | {mean_std(g['valid'], 'corr')} | "
                         + " | ".join(f"{e[k][0]:.3f} ± {e[k][1]:.3f}" for k in ("−w", "u ambiguity", "rank agreement w vs occlusion", "w std over clips")) + " |")
        (WORK / "explain_grid.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
        return
    if "oracle" in args.models:
        run(ORACLE, {}, stores["oracle"], args.seeds, stores["oracle_clean"])
    for training in args.training:
        extra = TRAINING[training]
        rows = {name: run(f"{name} {training}", {**overrides, **extra}, stores["stressed"], args.seeds, stores["clean"])
                for name, overrides in tqdm(MODELS.items(), desc=training)
                if name in args.models and (extra or name not in PERTURBATION_ONLY)}
        if not args.table:
            continue
        oracle = run(ORACLE, {}, stores["oracle"], args.seeds, stores["oracle_clean"])
        text = table(rows, oracle) + ("\n\n" + gap_closed(rows, oracle) if "concat" in rows else "")
        text += "\n\nConfidence, stressed test split:\n\n" + confidence_table(rows)
        (WORK / f"table_{slug(training)}.md").write_text(text + "\n")
        print(f"\n{training}:\n{text}")
        report[training] = {"rows": {k: {kk: v for kk, v in r.items() if kk != "folder"} for k, r in rows.items()}}
        all_curves = {name: curves(r, stores["clean"], args.seeds) for name, r in tqdm(rows.items(), desc="curves")}
        all_curves[ORACLE] = curves(oracle, stores["oracle_clean"], args.seeds)
        report[training]["curves"] = all_curves
        plot_curves(all_curves, FIGURES / f"reliability_curves_{slug(training)}.png", f"Robustness on the clean test split, {training}")
        (WORK / f"curves_{slug(training)}.md").write_text(curves_table(all_curves) + "\n")
        explanations = {name: explanation_quality(r, stores["stressed"], args.seeds)
                        for name, r in rows.items() if name.startswith("DSRF") and "USF" not in name}
        if explanations:
            explanations[REFERENCE] = reference_detection(stores["stressed"])
        report[training]["explanations"] = explanations
        if explanations:
            (WORK / f"explanations_{slug(training)}.md").write_text(explanations_table(explanations) + "\n")
        report[training]["oracle"] = {k: v for k, v in oracle.items() if k != "folder"}
        (WORK / f"report_{slug(training)}.json").write_text(json.dumps(report[training], indent=1))


if __name__ == "__main__":
    main()
