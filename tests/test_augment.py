"""Training-time perturbation: what each kind does to a batch, and that it depends on the clip alone."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from pipeline.augment import Perturbation, perturb_batch
from pipeline.data.batch import Batch

DIMS = {"t": 4, "a": 3, "v": 2}


def batch(size: int = 64, first: int = 0) -> Batch:
    g = torch.Generator().manual_seed(first)
    inputs = {m: torch.randn(size, 6, d, generator=g) for m, d in DIMS.items()}
    lengths = {m: torch.randint(2, 7, (size,), generator=g) for m in DIMS}
    present = torch.ones(size, 3, dtype=torch.bool)
    present[::5, 2] = False  # some clips without a face
    return Batch(inputs, lengths, present, torch.zeros(size), [f"clip{first + i}" for i in range(size)])


def test_dropout_never_takes_every_modality_and_hits_about_its_rate():
    original = batch(400)
    out, shares = perturb_batch(original, Perturbation(dropout=0.5), seed=1, epoch=0)
    assert out.present.any(1).all()
    assert not (out.present & ~original.present).any()  # nothing missing comes back
    rate = (original.present & ~out.present).sum() / original.present.sum()
    assert 0.35 < rate < 0.5  # below 0.5: a clip keeps one modality when the draw would take all
    assert torch.equal(original.present, batch(400).present)  # the input batch is left as it was
    assert shares["dropped"] > 0.5 and shares["noised"] == shares["conflicting"] == 0


def test_noise_replaces_one_present_modality_of_the_hit_clips():
    original = batch()
    out, shares = perturb_batch(original, Perturbation(noise=0.5), seed=1, epoch=0)
    changed = torch.stack([(out.inputs[m] != original.inputs[m]).flatten(1).any(1) for m in DIMS], 1)  # (B, M)
    assert (changed.sum(1) <= 1).all() and not (changed & ~original.present).any()
    assert changed.any(1).float().mean() == pytest.approx(shares["noised"]) and 0.3 < shares["noised"] < 0.7
    assert torch.equal(out.corrupted, changed)  # what a model may learn to flag
    for m in DIMS:  # only valid steps: the padding stays as it was
        steps = torch.arange(6)[None, :] >= original.lengths[m][:, None]
        assert torch.equal(out.inputs[m][steps], original.inputs[m][steps])


def test_conflict_gives_a_clip_another_clips_modality():
    original = batch()
    out, shares = perturb_batch(original, Perturbation(conflict=1.0), seed=1, epoch=0)
    assert shares["conflicting"] == 1.0
    for i in range(len(original)):
        m = next(m for m in DIMS if not torch.equal(out.inputs[m][i], original.inputs[m][i]))
        donors = [j for j in range(len(original)) if j != i and torch.equal(out.inputs[m][i], original.inputs[m][j])]
        assert donors and out.lengths[m][i] == original.lengths[m][donors[0]]
        assert out.corrupted[i].tolist() == [n == m for n in DIMS]


def test_a_clip_meets_the_same_fate_in_any_batch_and_another_in_the_next_epoch():
    p = Perturbation(dropout=0.3, noise=0.3)
    whole, _ = perturb_batch(batch(16), p, seed=7, epoch=3)
    halves = [perturb_batch(dataclasses.replace(batch(16), **{k: v for k, v in part.items()}), p, seed=7, epoch=3)[0]
              for part in (slice_of(batch(16), 0, 8), slice_of(batch(16), 8, 16))]
    assert torch.equal(whole.present, torch.cat([h.present for h in halves]))
    for m in DIMS:
        assert torch.equal(whole.inputs[m], torch.cat([h.inputs[m] for h in halves]))
    later, _ = perturb_batch(batch(16), p, seed=7, epoch=4)
    assert not torch.equal(later.present, whole.present) or not torch.equal(later.inputs["t"], whole.inputs["t"])


def slice_of(b: Batch, start: int, end: int) -> dict:
    return dict(inputs={m: x[start:end] for m, x in b.inputs.items()}, lengths={m: n[start:end] for m, n in b.lengths.items()},
                present=b.present[start:end], labels=b.labels[start:end], ids=b.ids[start:end])


def test_rates_outside_their_range_are_refused_naming_the_param():
    with pytest.raises(ValueError, match="train.modality_dropout: 1.5"):
        Perturbation(dropout=1.5)
    with pytest.raises(ValueError, match="train.feature_noise \\+ train.feature_conflict"):
        Perturbation(noise=0.6, conflict=0.6)
