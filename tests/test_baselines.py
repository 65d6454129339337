"""The baselines (concat, TFN, MulT, MISA, Self-MM) honour the models' contract, at toy size.

Each learns the clean synthetic set (`reliability_source` of pipeline/data/synthetic.py with no unreliable modality: the
label is 1.5·s and every modality shows s), handles clips that each miss another modality without
reading the missing input, does regression and classification, and compiles to what eager
computes; MISA's and Self-MM's loss terms come by name, and Self-MM's generated labels move in
training only. Every model trains and evaluates through the stage commands on an MMSA-layout pickle,
and trains under DDP on 2 CPU processes as on one.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pipeline.checkpoint import load_checkpoint
from pipeline.data.synthetic import STEPS, reliability_source
from pipeline.model import ModelConfig
from pipeline.data.synthetic import mmsa_split, write_mmsa
from pipeline.model.registry import MODEL_NAMES, build_model, for_store, own_config

from .cli_support import assert_same_weights, pipeline, weights
from .conftest import TINY_DIMS, make_batch

BASELINES = [name for name in MODEL_NAMES if name != "dsrf"]
TINY = dict(hidden=16, layers=1, heads=2, dropout=0.0)


def model_of(name: str, train_size: int = 8, **overrides):
    config = ModelConfig(name=name, input_dims=overrides.pop("input_dims", TINY_DIMS), **{**TINY, **overrides})
    return build_model(config, for_store(own_config(name, {}), train_size))


def clean_set(split: str, size: int, seed: int = 0):
    """(inputs, lengths, labels) of the clean reliability set: every modality present and informative."""
    source, _ = reliability_source({split: size}, {}, seed=seed)
    clips = [source.load(i) for i in range(len(source.entries))]
    inputs = {m: torch.zeros(size, STEPS[m], clips[0][m].shape[1]) for m in STEPS}
    lengths = {m: torch.zeros(size, dtype=torch.long) for m in STEPS}
    for i, clip in enumerate(clips):
        for m, x in clip.items():
            inputs[m][i, : len(x)] = torch.from_numpy(x)
            lengths[m][i] = len(x)
    return inputs, lengths, torch.tensor([e.label for e in source.entries])


@pytest.mark.parametrize("name", BASELINES)
def test_each_baseline_learns_the_clean_synthetic_set(name):
    torch.manual_seed(0)
    (x, n, y), (vx, vn, vy) = clean_set("train", 384), clean_set("test", 128)
    dims = {m: t.shape[-1] for m, t in x.items()}
    model = model_of(name, train_size=384, input_dims=dims, hidden=32, heads=4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(8):
        model.train()
        for batch in torch.randperm(len(y)).split(32):
            out = model({m: t[batch] for m, t in x.items()}, {m: t[batch] for m, t in n.items()}, labels=y[batch], index=batch)
            optimizer.zero_grad()
            out.loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        mae = (model(vx, vn).prediction - vy).abs().mean().item()
    baseline = (y.mean() - vy).abs().mean().item()
    assert mae < 0.5 * baseline, (name, mae, baseline)


@pytest.mark.parametrize("name", BASELINES)
def test_a_missing_modality_is_never_read(name):
    torch.manual_seed(0)
    model = model_of(name).eval()
    inputs, lengths, _ = make_batch(6)
    present = torch.ones(6, 3, dtype=torch.bool)
    for i in range(6):
        present[i, i % 3] = False  # every clip misses another modality
    present[3:, :] = torch.tensor([[True, False, False], [False, True, False], [False, False, True]])  # and some have one only
    dirty = {m: x.clone() for m, x in inputs.items()}
    for i, m in enumerate(inputs):
        dirty[m][~present[:, i]] = float("nan")
    with torch.no_grad():
        clean_out = model(inputs, lengths, present).prediction
        dirty_out = model(dirty, lengths, present).prediction
    assert torch.isfinite(dirty_out).all() and torch.allclose(clean_out, dirty_out, atol=1e-6)


@pytest.mark.parametrize("name", BASELINES)
def test_classification_gives_logits_and_the_score_of_a_class(name):
    model = model_of(name, task="classification")
    inputs, lengths, labels = make_batch(8)
    out = model(inputs, lengths, labels=labels, index=torch.arange(8))
    assert out.logits.shape == (8, 7) and torch.isfinite(out.loss)
    assert torch.equal(out.prediction, out.logits.argmax(-1).float() - 3)  # the score the class stands for
    out.loss.backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert not unused, unused  # DDP needs every parameter in every step


def test_misa_and_self_mm_log_their_terms_by_name():
    inputs, lengths, labels = make_batch(8)
    misa = model_of("misa")(inputs, lengths, labels=labels).losses
    assert {"task", "sim", "diff", "recon", "total"} == set(misa)
    own = own_config("misa", {})
    assert torch.allclose(misa["total"], misa["task"] + own.w_sim * misa["sim"] + own.w_diff * misa["diff"] + own.w_recon * misa["recon"])
    self_mm = model_of("self_mm")(inputs, lengths, labels=labels, index=torch.arange(8)).losses
    assert {"task", "unimodal", "gap_t", "gap_a", "gap_v", "total"} == set(self_mm)


def test_self_mm_labels_move_in_training_and_stay_in_eval():
    torch.manual_seed(0)
    model = model_of("self_mm", train_size=16)
    inputs, lengths, labels = make_batch(16)
    index = torch.arange(16)
    for _ in range(3):
        model(inputs, lengths, labels=labels, index=index)
    assert (model.updates == 3).all()
    moved = model.label_s.clone()
    assert (moved - labels[:, None]).abs().max() > 1e-3 and (moved.abs() <= 3).all()
    model.eval()
    model(inputs, lengths, labels=labels, index=index)
    assert torch.equal(model.label_s, moved) and (model.updates == 3).all()


@pytest.mark.parametrize("name", BASELINES)
def test_a_compiled_training_step_equals_eager(name):
    """The training step (train mode, dropout 0: deterministic) traced by torch.compile as one graph
    (fullgraph: no data-dependent break); the aot_eager backend runs that graph without generating
    kernels, which the inductor backend of `train.compile` would add (tests/test_train.py compiles
    DSRF's training end to end with it)."""
    torch.manual_seed(0)
    model = model_of(name).train()
    inputs, lengths, labels = make_batch(4)
    eager = model(inputs, lengths, labels=labels)
    compiled = torch.compile(model, dynamic=False, fullgraph=True, backend="aot_eager")(inputs, lengths, labels=labels)
    assert torch.allclose(eager.loss, compiled.loss, atol=1e-4) and torch.allclose(eager.prediction, compiled.prediction, atol=1e-4)


@pytest.fixture(scope="module")
def mmsa_store(tmp_path_factory):
    """An unaligned MMSA-layout pickle (random features, the real file's keys and shapes) through `pipeline tensors`."""
    root = tmp_path_factory.mktemp("mmsa")
    rng = np.random.default_rng(0)
    shape = dict(steps={"t": 6, "a": 8, "v": 8}, dims={"t": 12, "a": 5, "v": 7}, aligned=False)
    write_mmsa(root / "unaligned.pkl", {"train": mmsa_split(12, rng, **shape), "valid": mmsa_split(6, rng, first_video=9, **shape),
                                        "test": mmsa_split(6, rng, first_video=12, **shape)})
    (root / "params.yaml").write_text(yaml.safe_dump({"data": {"path": "unaligned.pkl"}, "tensors": {"out": "store"}}))
    pipeline("tensors", "--params", "params.yaml", cwd=root, check=True)
    return root / "store"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_trains_and_evaluates_on_an_mmsa_pickle(mmsa_store, name, tmp_path):
    params = {"data": {"path": str(mmsa_store.parent / "unaligned.pkl")}, "model": {"name": name, **TINY, "factor_layers": 1},
              "train": {"store": str(mmsa_store), "seeds": [5], "epochs": 2, "batch_size": 4, "device": "cpu"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("train", "evaluate"):
        pipeline(stage, "--params", "params.yaml", cwd=tmp_path, check=True)
    assert load_checkpoint(tmp_path / "models" / "seed_5.pt")["model_config"]["name"] == name
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) == {"valid", "test"} and all(np.isfinite(v) for split in metrics.values() for v in split.values())


def train_on(store: Path, folder: Path, name: str, **train) -> dict[str, torch.Tensor]:
    """Train `name` for 2 epochs through `pipeline train` (one thread per process) -> the seed's weights."""
    folder.mkdir()
    params = {"data": {"path": str(store.parent / "unaligned.pkl")}, "model": {"name": name, **TINY},
              "train": {"store": str(store), "seeds": [5], "epochs": 2, "lr": 0.003, "batch_size": 4, "device": "cpu", **train}}
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    pipeline("train", "--params", "params.yaml", cwd=folder, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True)
    return weights(folder, seed=5)


@pytest.mark.parametrize("name", BASELINES)
def test_two_cpu_processes_train_each_baseline_as_one(mmsa_store, name, tmp_path):
    """DDP (gloo, 2 processes × 2 clips) against 1 process × 4 clips, the same global batch. Every
    loss term but MISA's is a mean of per-clip terms, so the weights agree up to the order of float
    sums; Self-MM's per-clip labels and memories agree too, which they only do when every rank
    updates them from the clips of both ranks. MISA's similarity (CMD) and difference terms compare
    moments and products over the batch, which 2 clips per process do not reproduce: it must train
    to finite weights of the same layout, not match."""
    one = train_on(mmsa_store, tmp_path / "one", name)
    two = train_on(mmsa_store, tmp_path / "two", name, nproc=2)
    if name == "misa":
        assert one.keys() == two.keys() and all(torch.isfinite(v.float()).all() for v in two.values())
    else:
        assert_same_weights(one, two, atol=1e-3)  # a wrong split of the batch moves weights by ~lr (3e-3) per step
    if name == "self_mm":
        assert (two["updates"] > 0).all() and torch.equal(one["updates"], two["updates"])
        assert torch.allclose(one["label_s"], two["label_s"], atol=1e-3)
