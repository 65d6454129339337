"""The DVC chain in a fresh copy of the project, as a user drives it.

Runs the project's own dvc.yaml and stage commands on a tiny text-only dataset (a random BERT, one
seed), so it checks the wiring, not model quality: `dvc repro` twice (the second does nothing), a
change of model code or of a train param reruns only train and evaluate, and after `dvc exp run` the
comparison `dvc exp show --only-changed` draws in a 120-column terminal shows the changed param
and the test metrics whole; every baseline runs through the same chain with `-S model.name=...`.
"""
from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
import yaml

from pipeline.checkpoint import load_checkpoint
from pipeline.model import MODEL_NAMES

from .features_support import tiny_bert

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*args: str, cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def in_terminal(args: list[str], cwd: Path, columns: int) -> str:
    """What a command draws in a terminal `columns` wide (a pseudo-terminal: DVC sizes its tables to it)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(cwd)
        os.environ.update(PATH=f"{BIN}:{os.environ['PATH']}", DVC_NO_ANALYTICS="1", COLUMNS=str(columns), TERM="xterm")
        os.execvp(args[0], args)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.waitpid(pid, 0)
    return re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", b"".join(chunks).decode(errors="replace"))


STAGES = ("transcribe", "features", "tensors", "train", "evaluate")


def ran(output: str) -> set[str]:
    return {stage for stage in STAGES if f"Running stage '{stage}'" in output}


@pytest.mark.slow
def test_repro_reruns_what_changed_and_exp_show_is_readable(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed: DVC needs a git repository")
    project = tmp_path / "project"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\n")
    for name in filter(None, tracked):
        if name.startswith("raw/demo/") or name in ("dvc.lock", "metrics.json", "metrics_seeds.json"):
            continue  # the demo corpus is replaced by a text-only set; the lock and metrics are the demo's
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, project / name)

    dataset = project / "raw" / "tiny"
    dataset.mkdir(parents=True)
    rows = [("good movie", 2.0, "train"), ("bad movie", -2.0, "train"), ("really good", 1.6, "train"),
            ("it was bad", -1.4, "train"), ("i loved it", 2.4, "valid"), ("i hated it", -2.2, "valid"),
            ("so good", 1.8, "test"), ("so bad", -1.2, "test"), ("not great", -0.6, "test"), ("pretty nice", 1.0, "test"),
            ("awful", -2.6, "test")]
    (dataset / "label.csv").write_text("video_id,clip_id,text,label,mode\n"
                                       + "".join(f"v,{i},{t},{y},{m}\n" for i, (t, y, m) in enumerate(rows)))
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"].update(path="raw/tiny", modalities=["t"])
    params["features"]["text"]["model"] = str(tiny_bert(tmp_path / "bert"))
    params["model"].update(hidden=16, layers=1, heads=2, factor_layers=1)
    params["train"].update(seeds=[3], epochs=2, batch_size=4, device="cpu")
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run("git", "init", "-q", cwd=project)
    run("git", "add", "-A", cwd=project)
    run("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy", cwd=project)

    assert ran(run("dvc", "repro", cwd=project)) == set(STAGES)
    metrics = json.loads((project / "metrics.json").read_text())
    assert metrics.keys() == {"test", "valid"} and list(metrics["test"]) == ["mae", "corr", "acc2_non0", "acc7"]
    assert list(metrics["valid"]) == ["mae"]  # the selection metric: the whole table fits 120 columns
    assert ran(run("dvc", "repro", cwd=project)) == set()

    # Model code and a train param: extraction and the store stay as they are.
    with open(project / "pipeline" / "model" / "dsrf.py", "a") as handle:
        handle.write("# a change\n")
    assert "train" in run("dvc", "status", cwd=project) and "tensors" not in run("dvc", "status", cwd=project)
    params["train"]["lr"] = 0.002
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert ran(run("dvc", "repro", cwd=project)) == {"train", "evaluate"}

    # An experiment, compared as docs/training.md says, in a 120-column terminal.
    run("git", "add", "-A", cwd=project)
    run("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "baseline", cwd=project)
    # (A higher lr, not fewer epochs: on five clips both runs may pick the same first epoch.)
    run("dvc", "exp", "run", "-n", "high-lr", "-S", "train.lr=0.02", cwd=project)
    before = json.loads(run("git", "show", "HEAD:metrics.json", cwd=project))
    after = json.loads((project / "metrics.json").read_text())
    for keep in ([], ["--keep", r"test\."]):
        table = in_terminal(["dvc", "exp", "show", "--only-changed", *keep, "--no-pager"], project, 120)
        lines = table.splitlines()
        assert max(map(len, lines)) <= 120, table
        columns = next(line for line in lines if "Experiment" in line).split()[2:]  # after Experiment and Created
        row = next(line for line in lines if "[high-lr]" in line).split()
        cell = dict(zip(columns, row[-len(columns):]))  # Created may be several words; every other cell is one
        # --only-changed shows the metrics that differ from the baseline's (test's MAE and Corr do
        # on five clips), --keep every test metric; each whole, test leftmost, then the changed param.
        shown = [f"{split}.{name}" for split in after for name in after[split]
                 if before[split][name] != after[split][name] or (keep and split == "test")]
        assert {"test.mae", "test.corr"} <= set(shown), (before, after)
        assert columns[: len(shown)] == shown, table
        for name in shown:
            split, metric = name.split(".")
            assert float(cell[name]) == pytest.approx(after[split][metric], rel=1e-4), table
        assert cell["train.lr"] == "0.02", table
    seeds = run("dvc", "metrics", "show", "metrics_seeds.json", cwd=project)
    assert "test.mae_std" in seeds and "test.per_seed.3.mae" in seeds


    # Every model of the harness through the same chain: train and evaluate rerun, nothing else.
    for name in MODEL_NAMES:
        if name != "dsrf":
            assert ran(run("dvc", "exp", "run", "-n", name.replace("_", "-"), "-S", f"model.name={name}", cwd=project)) == {"train", "evaluate"}
            assert json.loads((project / "metrics.json").read_text())["test"]["mae"] > 0
            assert load_checkpoint(project / "models" / "seed_3.pt")["model_config"]["name"] == name
