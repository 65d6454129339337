"""Shared fixtures: tiny real models built from the real config, and batches that fit them."""
from __future__ import annotations

import os

import pytest
import torch

# No test may reach a model hub: every model is built locally or read from a package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pipeline.model import ModelConfig  # noqa: E402

# The fast tier (`make test-fast`: `pytest -m "not slow"`) leaves out every test of these kinds;
# `make test` (CI) runs them all. They are named here, by file, test or fixture, rather than in each
# test file, so that a new test of a kind is one line here. Each kind is also a marker (-m ray).
SLOW_KINDS = {  # kind: (what its tests do, the files, tests ("file::test") and fixtures ("file::fixture") that do it)
    "whisper": ("run a Whisper model", (
        "test_features_transcribe.py::whisper_dir", "test_stage_deps.py::traces",
        "test_features_transcribe.py::test_packaged_whisper_base_transcribes_real_speech",
        "test_features_dataset.py::test_silence_and_no_audio_are_warnings_not_failures")),
    "ray": ("start Ray", ("test_features_ray.py",)),
    "torchrun": ("launch DDP processes", (
        "test_train.py::test_two_cpu_processes_match_one", "test_train.py::test_two_nodes_match_one_node_with_two_processes",
        "test_baselines.py::test_two_cpu_processes_train_each_baseline_as_one")),
    "env": ("need an optional backend's own environment", ("test_env_face.py", "test_env_whisperx.py")),
    "chain": ("run DVC, or every stage on real clips", ("test_dvc.py", "test_stage_deps.py::traces")),
    "training": ("train models for many steps, or compile them", (
        "test_model_learns.py", "test_predict.py::workspace", "test_finetune_text.py::workspace",
        "test_baselines.py::test_each_baseline_learns_the_clean_synthetic_set",
        "test_baselines.py::test_every_model_trains_and_evaluates_on_an_mmsa_pickle",
        "test_baselines.py::test_a_compiled_training_step_equals_eager",
        "test_train.py::test_train_then_evaluate_writes_checkpoints_metrics_and_plots",
        "test_train.py::test_compiled_training_matches_eager", "test_train.py::test_killed_run_resumes_where_it_stopped",
        "test_train.py::test_training_time_perturbation_is_applied_and_logged",
        "test_transcripts.py::test_train_on_several_transcripts_and_evaluate_on_one",
        "test_text_top_layers.py::test_training_moves_the_top_layer_only_and_the_checkpoint_scores_from_ids")),
}


def pytest_configure(config):
    for kind, (what, _) in SLOW_KINDS.items():
        config.addinivalue_line("markers", f"{kind}: tests that {what} (slow: left out of make test-fast)")


def pytest_collection_modifyitems(items):
    for item in items:
        file = item.path.name
        names = {file, *(f"{file}::{name}" for name in (item.originalname, *item.fixturenames))}
        for kind, (_, needs) in SLOW_KINDS.items():
            if names.intersection(needs):
                item.add_marker(kind)
                item.add_marker("slow")


TINY_DIMS = {"t": 12, "a": 5, "v": 7}
TINY_STEPS = {"t": 9, "a": 14, "v": 11}


def tiny_config(**overrides) -> ModelConfig:
    """The real ModelConfig at toy size: hidden 16, 1 encoder layer, dropout off."""
    settings = dict(input_dims=TINY_DIMS, hidden=16, layers=1, heads=2, dropout=0.0)
    settings.update(overrides)
    return ModelConfig(**settings)


def make_batch(batch: int, modalities=("t", "a", "v"), seed: int = 0):
    """Random inputs with varied valid lengths (at least 1), and scores in [-3, 3]."""
    g = torch.Generator().manual_seed(seed)
    inputs = {m: torch.randn(batch, TINY_STEPS[m], TINY_DIMS[m], generator=g) for m in modalities}
    lengths = {m: torch.randint(1, TINY_STEPS[m] + 1, (batch,), generator=g) for m in modalities}
    labels = torch.rand(batch, generator=g) * 6 - 3
    return inputs, lengths, labels


@pytest.fixture
def seeded():
    torch.manual_seed(1234)
