"""Shared fixtures: tiny real models built from the real config, and batches that fit them."""
from __future__ import annotations

import os

import pytest
import torch

# No test may reach a model hub: every model is built locally or read from a package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pipeline.model import ModelConfig  # noqa: E402

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
