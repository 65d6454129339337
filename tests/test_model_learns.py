"""DSRF learns a synthetic task whose label needs two modalities, in seconds on a CPU."""
from __future__ import annotations

import torch

from pipeline.model import DSRF

from .conftest import TINY_DIMS, TINY_STEPS, tiny_config


def synthetic_set(n: int, seed: int):
    """Label = 1.5·(text level) + 1.5·(audio level), clipped to [-3, 3]; vision is pure noise.

    Each sequence is its level plus frame noise, so a model must pool over time in both
    modalities to recover the label; either one alone leaves half the variance unexplained.
    """
    g = torch.Generator().manual_seed(seed)
    level_t, level_a = torch.randn(n, generator=g), torch.randn(n, generator=g)
    inputs, lengths = {}, {}
    for m, level in (("t", level_t), ("a", level_a), ("v", torch.zeros(n))):
        noise = 0.5 * torch.randn(n, TINY_STEPS[m], TINY_DIMS[m], generator=g)
        inputs[m] = level[:, None, None] + noise if m != "v" else noise * 2
        lengths[m] = torch.randint(TINY_STEPS[m] // 2, TINY_STEPS[m] + 1, (n,), generator=g)
    labels = (1.5 * level_t + 1.5 * level_a).clamp(-3, 3)
    return inputs, lengths, labels


def test_dsrf_learns_a_two_modality_label():
    torch.manual_seed(0)
    train_x, train_len, train_y = synthetic_set(384, seed=1)
    valid_x, valid_len, valid_y = synthetic_set(128, seed=2)
    model = DSRF(tiny_config(hidden=32, heads=4))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)

    losses = []
    for epoch in range(12):
        order = torch.randperm(len(train_y))
        for batch in order.split(32):
            out = model({m: x[batch] for m, x in train_x.items()}, {m: n[batch] for m, n in train_len.items()}, labels=train_y[batch])
            optimizer.zero_grad()
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(out.losses["task"].item())

    model.eval()
    with torch.no_grad():
        prediction = model(valid_x, valid_len).prediction
    mae = (prediction - valid_y).abs().mean().item()
    mean_baseline = (train_y.mean() - valid_y).abs().mean().item()
    first, last = sum(losses[:12]) / 12, sum(losses[-12:]) / 12
    assert last < 0.5 * first, (first, last)
    assert mae < 0.5 * mean_baseline, (mae, mean_baseline)
