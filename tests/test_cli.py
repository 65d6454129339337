"""The `pipeline` console script, run as a user runs it."""
from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from pipeline.data.build import write_store
from pipeline.data.config import DataConfig, TensorConfig
from pipeline.data.synthetic import synthetic_source
from pipeline.model import DSRF, ModelConfig

from .cli_support import pipeline

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return pipeline(*args, cwd=cwd, timeout=120)

COMMANDS = ("model-summary", "extract", "transcribe", "features", "tensors", "train", "evaluate", "predict")


def test_help_lists_every_command():
    result = run("--help")
    assert result.returncode == 0
    listed = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("│ ") and not line.startswith("│  ")]
    assert tuple(c for c in listed if not c.startswith("-")) == COMMANDS


def test_model_summary_describes_the_model_params_yaml_trains(tmp_path):
    # No store yet: the widths come from the features settings (MiniLM 384, eGeMAPSv02 25, RetinaFace geometry + expressions 26).
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"]["store"] = str(tmp_path / "no-store")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = run("model-summary", "--params", "params.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    expected = sum(p.numel() for p in DSRF(ModelConfig(input_dims={"t": 384, "a": 25, "v": 26})).parameters())
    assert f"{expected:,}" in result.stdout and "from features settings" in result.stdout

    # With a store, its widths and the paper's preset (SIMS: hidden 64).
    store = tmp_path / "store"
    write_store(synthetic_source({"train": 4, "valid": 2}, {"t": 3, "a": 4, "v": 5}, {"t": 12, "a": 7, "v": 9}),
                DataConfig(path="synthetic", dataset="mosei"), TensorConfig(), store)
    params["train"].update(store=str(store), preset="sims")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = run("model-summary", "--params", "params.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = ModelConfig(input_dims={"t": 12, "a": 7, "v": 9}, hidden=64)
    assert f"{sum(p.numel() for p in DSRF(config).parameters()):,}" in result.stdout
    assert "lr 1e-05, batch 32, weight decay 0.01 (paper preset sims)" in result.stdout


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
