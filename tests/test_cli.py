"""The `pipeline` console script, run as a user runs it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pipeline.model import DSRF, ModelConfig

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = str(Path(sys.executable).with_name("pipeline"))


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([PIPELINE, *args], cwd=cwd, capture_output=True, text=True, timeout=120)

COMMANDS = ("model-summary", "extract", "transcribe", "features", "tensors", "train", "evaluate", "predict")


def test_help_lists_every_command():
    result = run("--help")
    assert result.returncode == 0
    listed = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("│ ") and not line.startswith("│  ")]
    assert tuple(c for c in listed if not c.startswith("-")) == COMMANDS


def test_model_summary_counts_the_models_parameters():
    result = run("model-summary", "--params", "params.yaml")
    assert result.returncode == 0, result.stderr
    expected = sum(p.numel() for p in DSRF(ModelConfig()).parameters())
    assert f"{expected:,}" in result.stdout
    assert "lr 3e-05, batch 32, hidden 128" in result.stdout


def test_bad_params_key_is_a_one_line_error(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("model:\n  hidden: 64\n  use_drl: false\n")
    result = run("model-summary", "--params", str(params))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "model.use_drl: unknown key" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_params_file_names_it(tmp_path):
    result = run("model-summary", "--params", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2 and "nope.yaml: params file not found" in result.stderr
