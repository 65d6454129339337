"""Shared by the evidence scripts: one experiment = params.yaml with overrides, run through the stages.

Each run lives in its own folder (under data/evidence/, gitignored) holding its params.yaml and
everything the stages write there (dvclive/, runs/, models/, metrics*.json, plots/), so runs never
touch the project's own outputs. The stages are the `pipeline` commands DVC runs, called as
subprocesses with the run folder as working directory. A folder whose metrics were written from
identical params is not trained again.
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
EVIDENCE = ROOT / "data" / "evidence"
DONE = ".params.done"  # the params text the run's metrics came from
TRAIN_SECONDS = "train_seconds.txt"  # wall-clock seconds of the run's train stage (all seeds)
SUMMARY = "metrics_seeds.json"  # evaluate's {split: {metric: mean, metric_std, per_seed}}


def project_params() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def with_overrides(params: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of `params` with dotted keys set: {"train.lr": 1e-3, "data.modalities": ["t"]}."""
    params = copy.deepcopy(params)
    for dotted, value in overrides.items():
        *parents, key = dotted.split(".")
        section = params
        for name in parents:
            section = section.setdefault(name, {})
        section[key] = value
    return params


def text_dataset_params(folder: Path) -> dict[str, Any]:
    """Project params with the dataset (`folder`/raw), its features and its store moved into `folder`;
    text only, valid only: the MOSI text evidence scripts' starting point."""
    return with_overrides(project_params(), {
        "data.path": str(folder / "raw"), "data.modalities": ["t"],
        "transcribe.out": str(folder / "transcripts"), "transcribe.cache": str(folder / "cache"),
        "features.out": str(folder / "features"), "features.cache": str(folder / "cache"),
        "tensors.out": str(folder / "store"), "train.store": str(folder / "store"),
        "evaluate.splits": ["valid"],
    })


def parse_override(text: str) -> tuple[str, Any]:
    """`train.lr=1e-3` -> ("train.lr", 0.001): the value is read as YAML, like `dvc exp run -S`."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise SystemExit(f"--set: expected key=value, got {text!r}")
    return key, yaml.safe_load(value)


def stage(name: str, params: Path, cwd: Path) -> None:
    """`pipeline <name> --params <params>` in `cwd`, offline; a failing stage stops the script."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [sys.executable, "-m", "pipeline", name, "--params", str(params)]
    if subprocess.call(command, cwd=cwd, env=env):
        raise SystemExit(f"{' '.join(command)} failed (in {cwd})")


def train_and_evaluate(folder: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Train every seed and evaluate in `folder`; every metric's summary ({split: summary})."""
    folder.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(params, sort_keys=True)
    done = folder / DONE
    if not (done.is_file() and done.read_text() == text and (folder / SUMMARY).is_file()):
        done.unlink(missing_ok=True)
        (folder / "params.yaml").write_text(text)
        start = time.perf_counter()
        stage("train", folder / "params.yaml", folder)
        (folder / TRAIN_SECONDS).write_text(f"{time.perf_counter() - start:.1f}\n")
        stage("evaluate", folder / "params.yaml", folder)
        done.write_text(text)
    return json.loads((folder / SUMMARY).read_text())


def mean_std(summary: dict[str, Any], metric: str, digits: int = 3) -> str:
    return f"{summary[metric]:.{digits}f} ± {summary[metric + '_std']:.{digits}f}"


def save_figure(fig, path: Path, title: str) -> None:
    """Title, tight layout, a small PNG at `path` (folders made), and the figure closed."""
    import matplotlib.pyplot as plt

    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
