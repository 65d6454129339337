"""`pipeline train` and `pipeline evaluate` on a small generated store, run as a user runs them.

Covers: selection on valid and a checkpoint per seed; DDP on 2 CPU processes (gloo) matching one
process; a killed run resuming to the same weights as an uninterrupted one; a NaN loss stopping
with the term named; metrics.json with test's headline means and valid's selection metric, the seeds file
with every metric's mean, std and per-seed values.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import numpy as np
import yaml

from pipeline.checkpoint import load_checkpoint
from pipeline.data.build import write_store
from pipeline.data.config import DataConfig, TensorConfig
from pipeline.data.synthetic import synthetic_source
from pipeline.distributed import torchrun_command
from pipeline.metrics import MOSI_METRICS
from pipeline.setup import TrainConfig

from .cli_support import PIPELINE, assert_same_weights, pipeline, weights


# HSF off and no perturbation: every loss term is then a mean of per-sample terms, so the
# gradient of 2 processes × 4 samples equals that of 1 process × 8 (the batch-level contrastive
# and correlation terms of HSF would see 4 samples per process instead of 8).
# USF as the paper has it (no probe loss, τ 1, u_a from r_a): the trained probe's cross-entropy makes
# the weights follow the order of float sums more closely (2 processes against 1 differed by 1.0e-3
# after 12 steps with it, by less than the 1e-3 bound without), and these tests are about the training
# machinery, not a loss option.
TINY_MODEL = {"hidden": 16, "layers": 1, "heads": 2, "dropout": 0.0, "factor_layers": 1, "use_hsf": False, "perturb_std": 0.0, "usf_temperature": 1.0, "ambiguity_reads": "ambiguity"}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("store") / "store"
    source = synthetic_source({"train": 32, "valid": 12, "test": 10}, {"t": 6, "a": 10, "v": 8}, {"t": 8, "a": 4, "v": 5}, seed=3)
    write_store(source, DataConfig(path="generated"), TensorConfig(max_len={"t": 6, "a": 10, "v": 8}), out)
    return out


def write_params(folder: Path, store: Path, **train) -> Path:
    params = {
        "data": {"modalities": ["t", "a", "v"]},
        "model": TINY_MODEL, "loss": {"w_probe": 0.0},
        "train": {"seeds": [11], "epochs": 3, "lr": 0.003, "batch_size": 8, "patience": 10, "store": str(store),
                  "out": str(folder / "models"), "state": str(folder / "runs"), "device": "cpu", **train},
        "evaluate": {"metrics": str(folder / "metrics.json"), "seed_metrics": str(folder / "metrics_seeds.json"),
                     "plots": str(folder / "plots")},
    }
    path = folder / "params.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(params))
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_train_then_evaluate_writes_checkpoints_metrics_and_plots(tmp_path, store):
    params = write_params(tmp_path, store, seeds=[11, 12])
    trained = pipeline("train", "--params", str(params), cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    content = json.loads((tmp_path / "models" / "train_summary.json").read_text())
    summary = content["seeds"]
    assert content["select_metric"] == "mae" and set(summary) == {"11", "12"}
    checkpoint = load_checkpoint(tmp_path / "models" / "seed_11.pt")
    # The saved checkpoint is the one its valid MAE picked: the best epoch's, and no test metric in it.
    assert checkpoint["epoch"] == summary["11"]["best_epoch"]
    assert checkpoint["valid"]["mae"] == summary["11"]["valid"]["mae"]
    assert checkpoint["manifest"]["dims"] == {"t": 8, "a": 4, "v": 5}
    curves = tmp_path / "dvclive" / "plots" / "metrics" / "seed_11"
    assert (curves / "train" / "total.tsv").read_text().count("\n") == 1 + summary["11"]["epochs_run"]
    assert (curves / "valid" / "mae.tsv").is_file()

    evaluated = pipeline("evaluate", "--params", str(params), cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    headline = json.loads((tmp_path / "metrics.json").read_text())
    metrics = json.loads((tmp_path / "metrics_seeds.json").read_text())
    assert list(headline) == ["test", "valid"] and list(metrics) == ["test", "valid"]
    for name, split in metrics.items():
        assert set(MOSI_METRICS) <= set(split) and {f"{m}_std" for m in MOSI_METRICS} <= set(split)
        assert set(split["per_seed"]) == {"11", "12"}
        mean = (split["per_seed"]["11"]["mae"] + split["per_seed"]["12"]["mae"]) / 2
        assert split["mae"] == pytest.approx(mean)
    # What `dvc exp show` draws: every headline metric of test, and valid's selection metric only.
    assert headline == {"test": {m: metrics["test"][m] for m in ("mae", "corr", "acc2_non0", "acc7")},
                        "valid": {"mae": metrics["valid"]["mae"]}}
    # evaluate rescored the selected checkpoint: its valid MAE is the one training selected on.
    assert metrics["valid"]["per_seed"]["11"]["mae"] == pytest.approx(summary["11"]["valid"]["mae"], abs=1e-5)
    for name in ("scatter_test.png", "confusion_test.png", "predictions/test.csv", "risk_coverage_test.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 0
    assert "metrics:" in evaluated.stdout
    # The seed ensemble (the mean of the seeds' predictions, what predict gives) and its confidence.
    with open(tmp_path / "plots" / "predictions" / "test.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 10 and all(0 < float(r["confidence"]) <= 1 for r in rows)
    mean = {clip: np.mean([float(r["prediction"]) for r in rows if r["id"] == clip]) for clip in {r["id"] for r in rows}}
    labels = {r["id"]: float(r["label"]) for r in rows}
    ensemble_mae = np.mean([abs(mean[c] - labels[c]) for c in mean])
    assert metrics["test"]["ensemble"]["mae"] == pytest.approx(ensemble_mae, abs=1e-3)
    ranked = metrics["test"]["risk_coverage"]
    assert set(ranked) == {"confidence (head)", "seed spread", "random"}
    assert ranked["random"]["mae@50"] == ranked["random"]["mae@100"] == pytest.approx(ensemble_mae, abs=1e-3)
    assert "mean of the seeds' predictions" in evaluated.stdout
    calibration = json.loads((tmp_path / "models" / "confidence.json").read_text())
    assert calibration["split"] == "valid" and sum(b["clips"] for b in calibration["bands"]) == 12


def test_two_cpu_processes_match_one(tmp_path, store):
    one = write_params(tmp_path / "one", store)
    two = write_params(tmp_path / "two", store, nproc=2)
    for params in (one, two):
        result = pipeline("train", "--params", str(params), cwd=params.parent)
        assert result.returncode == 0, result.stderr
    # Equal up to float noise: the two runs sum gradients in different orders, and AdamW's division
    # by sqrt(v) turns that noise into steps of up to ~lr/10 on parameters whose gradient is near 0.
    # A wrong split of the batches across processes moves weights by ~lr per step (3e-3 here).
    assert_same_weights(weights(tmp_path / "one"), weights(tmp_path / "two"), atol=1e-3)
    summaries = [json.loads((p.parent / "models" / "train_summary.json").read_text())["seeds"] for p in (one, two)]
    assert summaries[0]["11"]["valid"]["mae"] == pytest.approx(summaries[1]["11"]["valid"]["mae"], abs=1e-4)


def test_two_nodes_match_one_node_with_two_processes(tmp_path, store):
    # Two torchrun launches on this machine stand for two nodes of one process each; they meet at a
    # c10d rendezvous on localhost. One thread per process in both runs, so the sums match exactly.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = write_params(tmp_path / "one", store, nproc=2)
    two = write_params(tmp_path / "two", store, nnodes=2, rdzv_endpoint=f"127.0.0.1:{free_port()}")
    pipeline("train", "--params", str(one), cwd=one.parent, env=env, check=True)
    nodes = [subprocess.Popen([PIPELINE, "train", "--params", str(two)], cwd=two.parent, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [node.communicate(timeout=300)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs
    assert sorted("seed 11: best valid" in out for out in outputs) == [False, True], "one world of 2 ranks, one rank 0"
    assert_same_weights(weights(tmp_path / "one"), weights(tmp_path / "two"), atol=0.0)
    summaries = [json.loads((p.parent / "models" / "train_summary.json").read_text())["seeds"] for p in (one, two)]
    assert summaries[0] == summaries[1]


def test_torchrun_command_for_one_node_and_for_several():
    python = sys.executable
    assert torchrun_command(2, 1, "", "pipeline", ["train"]) == [
        python, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "pipeline", "train"]
    assert torchrun_command(8, 4, "node0:29400", "pipeline", ["train", "--params", "p.yaml"]) == [
        python, "-m", "torch.distributed.run", "--nnodes=4", "--rdzv_backend=c10d", "--rdzv_endpoint=node0:29400",
        "--nproc_per_node=8", "-m", "pipeline", "train", "--params", "p.yaml"]
    with pytest.raises(ValueError, match="train.rdzv_endpoint: train.nnodes 2 needs the host:port"):
        TrainConfig(nnodes=2)


def test_killed_run_resumes_where_it_stopped(tmp_path, store):
    reference = write_params(tmp_path / "reference", store, epochs=6)
    assert pipeline("train", "--params", str(reference), cwd=reference.parent).returncode == 0

    params = write_params(tmp_path / "killed", store, epochs=6)
    state = params.parent / "runs" / "seed_11" / "state.pt"
    process = subprocess.Popen([PIPELINE, "train", "--params", str(params)], cwd=params.parent,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not state.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stopped_at = load_checkpoint(state)["epoch"]
    assert stopped_at < 5, "the run finished before it could be killed; make it longer"

    resumed = pipeline("train", "--params", str(params), cwd=params.parent)
    assert resumed.returncode == 0, resumed.stderr
    assert load_checkpoint(state)["epoch"] == 5
    assert_same_weights(weights(tmp_path / "reference"), weights(tmp_path / "killed"), atol=1e-6)


def test_nan_loss_stops_naming_the_term(tmp_path, store):
    params = write_params(tmp_path, store, lr=1e30, grad_clip=0.0)
    result = pipeline("train", "--params", str(params), cwd=tmp_path)
    assert result.returncode == 2
    assert "became NaN or infinite" in result.stderr and "Traceback" not in result.stderr
    assert "task" in result.stderr.splitlines()[-1]


def test_model_keys_that_follow_the_data_are_refused(tmp_path, store):
    params = write_params(tmp_path, store)
    content = yaml.safe_load(params.read_text())
    content["model"]["modalities"] = ["t"]
    params.write_text(yaml.safe_dump(content))
    result = pipeline("train", "--params", str(params), cwd=tmp_path)
    assert result.returncode == 2 and "model.modalities: not set here; it follows data.modalities" in result.stderr


def test_compiled_training_matches_eager(tmp_path, store):
    # No dropout in TINY_MODEL: inductor draws its own dropout masks, so only then can the paths agree.
    # A compiled step sees fixed shapes (batches padded to the store's lengths; 32 clips make full
    # batches of 8): the padding must change nothing. On CPU "reduce-overhead" records no CUDA graph
    # and is inductor's default path, so one mode covers both here.
    mode = "reduce-overhead"
    eager, compiled = tmp_path / "eager", tmp_path / "compiled"
    assert pipeline("train", "--params", str(write_params(eager, store)), cwd=tmp_path).returncode == 0
    run = pipeline("train", "--params", str(write_params(compiled, store, compile=mode)), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    # AdamW normalizes each update, so float reordering in inductor's kernels moves weights by a
    # fraction of lr (3e-3) at most; the 12 steps move them by far more than that.
    assert_same_weights(weights(eager), weights(compiled), atol=1e-3)
    summaries = [json.loads((f / "models" / "train_summary.json").read_text())["seeds"]["11"]["valid"]["mae"] for f in (eager, compiled)]
    assert summaries[0] == pytest.approx(summaries[1], abs=1e-3)
    assert load_checkpoint(compiled / "models" / "seed_11.pt")["train_config"]["compile"] == mode


def test_fixed_shapes_need_one_full_batch(tmp_path, store):
    run = pipeline("train", "--params", str(write_params(tmp_path, store, compile="reduce-overhead", batch_size=64)), cwd=tmp_path)
    assert run.returncode == 2
    assert "train.compile reduce-overhead" in run.stderr and "32 clips" in run.stderr and "\n" not in run.stderr.strip()


def test_a_metric_the_dataset_lacks_is_refused_before_training(tmp_path, store):
    result = pipeline("train", "--params", str(write_params(tmp_path, store, select_metric="acc2")), cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr
    assert "train.select_metric: 'acc2' is not a mosi metric" in result.stderr and "acc2_non0" in result.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "models").exists()


def test_a_misspelled_split_is_refused_before_scoring(tmp_path, store):
    params = write_params(tmp_path, store)
    settings = yaml.safe_load(params.read_text())
    settings["evaluate"]["splits"] = ["valid", "tset"]
    params.write_text(yaml.safe_dump(settings))
    result = pipeline("evaluate", "--params", str(params), cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr
    assert "evaluate.splits: ['tset']" in result.stderr and not (tmp_path / "metrics.json").exists()


def test_training_time_perturbation_is_applied_and_logged(tmp_path, store):
    params = write_params(tmp_path, store, modality_dropout=0.3, feature_noise=0.2, feature_conflict=0.2)
    assert pipeline("train", "--params", str(params), cwd=tmp_path).returncode == 0
    curves = tmp_path / "dvclive" / "plots" / "metrics" / "seed_11" / "train"
    for kind in ("dropped", "noised", "conflicting"):
        shares = [float(line.split("\t")[-1]) for line in (curves / f"perturbed_{kind}.tsv").read_text().splitlines()[1:]]
        assert len(shares) == 3 and all(0 < share < 1 for share in shares), (kind, shares)
    # The same params without perturbation train to other weights.
    plain = write_params(tmp_path / "plain", store)
    assert pipeline("train", "--params", str(plain), cwd=tmp_path / "plain").returncode == 0
    assert not torch.equal(weights(tmp_path)["fusion.head.0.weight"], weights(tmp_path / "plain")["fusion.head.0.weight"])
