"""The DVC chain in a fresh copy of the project: `dvc repro` twice, then a changed param.

Runs the project's own dvc.yaml and stage commands on a tiny text-only dataset (a random BERT, one
seed, one epoch), so it checks the wiring — deps, params, outs, metrics — not model quality.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .features_support import tiny_bert

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*args: str, cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.mark.slow
def test_repro_twice_then_a_changed_lr_reruns_only_train_and_evaluate(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed: DVC needs a git repository")
    project = tmp_path / "project"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\n")
    for name in filter(None, tracked):
        if name.startswith("raw/demo/") or name in ("dvc.lock", "metrics.json"):
            continue  # the demo corpus is replaced by a text-only set; the lock is the demo's
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, project / name)

    dataset = project / "raw" / "tiny"
    dataset.mkdir(parents=True)
    rows = [("good movie", 2.0, "train"), ("bad movie", -2.0, "train"), ("really good", 1.6, "train"),
            ("it was bad", -1.4, "train"), ("i loved it", 2.4, "valid"), ("i hated it", -2.2, "valid")]
    (dataset / "label.csv").write_text("video_id,clip_id,text,label,mode\n"
                                       + "".join(f"v,{i},{t},{y},{m}\n" for i, (t, y, m) in enumerate(rows)))
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"].update(path="raw/tiny", modalities=["t"])
    params["features"]["text"]["model"] = str(tiny_bert(tmp_path / "bert"))
    params["model"].update(hidden=16, layers=1, heads=2, factor_layers=1)
    params["train"].update(seeds=[3], epochs=1, batch_size=4, device="cpu")
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run("git", "init", "-q", cwd=project)
    run("git", "add", "-A", cwd=project)
    run("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy", cwd=project)

    first = run("dvc", "repro", cwd=project)
    for stage in ("transcribe", "features", "tensors", "train", "evaluate"):
        assert f"Running stage '{stage}'" in first
    metrics = json.loads((project / "metrics.json").read_text())
    assert set(metrics) == {"valid"} and "mae" in metrics["valid"]  # a text set with no test split

    second = run("dvc", "repro", cwd=project)
    assert "Running stage" not in second

    params["train"]["lr"] = 0.002
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    third = run("dvc", "repro", cwd=project)
    ran = {stage for stage in ("transcribe", "features", "tensors", "train", "evaluate") if f"Running stage '{stage}'" in third}
    assert ran == {"train", "evaluate"}
