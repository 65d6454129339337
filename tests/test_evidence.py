"""The evidence code: robustness perturbations (pipeline/robustness.py) and the synthetic multimodal set."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.data.batch import Batch
from pipeline.data.build import write_store
from pipeline.data.config import DataConfig, TensorConfig
from pipeline.data.loader import make_loader
from pipeline.data.synthetic import DIMS, STEPS, multimodal_source
from pipeline.model import DSRF
from pipeline.robustness import hit, perturb, predict_perturbed
from tests.conftest import make_batch, tiny_config


def batch_of(ids: list[str], seed: int = 0) -> Batch:
    inputs, lengths, labels = make_batch(len(ids), seed=seed)
    for m, x in inputs.items():
        x[torch.arange(x.shape[1])[None, :] >= lengths[m][:, None]] = 0.0  # padding is 0, as the loader gives it
    return Batch(inputs, lengths, torch.ones(len(ids), 3, dtype=torch.bool), labels, ids)


def test_hit_is_nested_seeded_and_near_the_fraction():
    ids = [f"video{i}/{i % 7}" for i in range(4000)]
    quarter, half = hit(ids, 0.25), hit(ids, 0.5)
    assert not hit(ids, 0.0).any() and hit(ids, 1.0).all()
    assert (quarter <= half).all()  # every clip hit at 25 % is hit at 50 %
    assert abs(quarter.mean() - 0.25) < 0.03 and abs(half.mean() - 0.5) < 0.03
    assert (hit(ids, 0.5, seed=1) != half).any()
    assert (hit(ids[100:200], 0.5) == half[100:200]).all()  # a clip's fate does not depend on its batch
    with pytest.raises(ValueError, match="fraction"):
        hit(ids, 1.5)


def test_drop_clears_only_the_modalitys_presence_of_hit_clips():
    ids = [f"v{i}/1" for i in range(64)]
    batch = batch_of(ids)
    dropped = perturb(batch, "a", "drop", 0.5)
    rows = hit(ids, 0.5)
    assert 0 < rows.sum() < len(ids)
    assert (dropped.present[:, 1].numpy() == ~rows).all()
    assert dropped.present[:, [0, 2]].all() and batch.present.all()  # the input batch is untouched
    assert all(torch.equal(dropped.inputs[m], batch.inputs[m]) for m in batch.inputs)


def test_noise_changes_only_valid_steps_of_hit_clips_and_repeats_per_clip():
    ids = [f"v{i}/1" for i in range(32)]
    batch = batch_of(ids)
    noised = perturb(batch, "v", "noise", 0.5, noise_std=2.0)
    rows = torch.from_numpy(hit(ids, 0.5))
    changed = (noised.inputs["v"] != batch.inputs["v"]).any(-1)  # (B, T)
    valid = torch.arange(changed.shape[1])[None, :] < batch.lengths["v"][:, None]
    assert torch.equal(changed, valid & rows[:, None])
    assert torch.equal(noised.inputs["t"], batch.inputs["t"]) and torch.equal(noised.present, batch.present)
    assert 1.5 < float((noised.inputs["v"] - batch.inputs["v"])[changed].std()) < 2.5
    first = int(torch.nonzero(rows)[0])
    one = Batch({m: x[first:first + 1] for m, x in batch.inputs.items()}, {m: n[first:first + 1] for m, n in batch.lengths.items()},
                batch.present[first:first + 1], batch.labels[first:first + 1], ids[first:first + 1])
    alone = perturb(one, "v", "noise", 0.5, noise_std=2.0)  # the clip in a batch of its own: the same noise
    assert torch.equal(alone.inputs["v"][0], noised.inputs["v"][first])
    with pytest.raises(ValueError, match="kind"):
        perturb(batch, "v", "blur", 0.5)
    with pytest.raises(ValueError, match="modality"):
        perturb(batch, "x", "drop", 0.5)


def test_a_dropped_modality_is_never_read_by_dsrf(seeded):
    model = DSRF(tiny_config()).eval()
    ids = [f"v{i}/1" for i in range(12)]
    clean, scrambled = batch_of(ids, seed=0), batch_of(ids, seed=0)
    scrambled.inputs["t"] = torch.randn_like(scrambled.inputs["t"]) * 100
    _, untouched = predict_perturbed(model, [clean], "t", "drop", 0.0)
    labels, reference = predict_perturbed(model, [clean], "t", "drop", 1.0)
    _, other = predict_perturbed(model, [scrambled], "t", "drop", 1.0)
    assert np.allclose(reference, other, atol=1e-5)  # text dropped everywhere: its values do not matter
    assert not np.allclose(reference, untouched, atol=1e-3)
    assert np.array_equal(labels, clean.labels.numpy())


def test_synthetic_labels_need_every_modality(tmp_path):
    source = multimodal_source({"train": 120, "valid": 20, "test": 20}, seed=3)
    out = tmp_path / "store"
    manifest = write_store(source, DataConfig(path="synthetic", dataset="mosi"), TensorConfig(out=str(out), max_len=dict(STEPS)), out)
    assert manifest.splits == {"train": 120, "valid": 20, "test": 20} and manifest.dims == DIMS
    labels = np.array([e.label for e in source.entries])
    assert labels.min() >= -3 and labels.max() <= 3 and labels.std() > 0.8
    # Each modality's mean along its best direction carries its own part: all three explain the label best.
    batch = next(iter(make_loader(out, "train", 120, shuffle=False)))
    pooled = {m: (x.sum(1) / batch.lengths[m][:, None]).numpy() for m, x in batch.inputs.items()}  # m -> (N, d)
    y = batch.labels.numpy()

    def fit_error(ms):
        x = np.concatenate([pooled[m] for m in ms] + [np.ones((len(y), 1))], 1)
        return np.abs(x @ np.linalg.lstsq(x, y, rcond=None)[0] - y).mean()

    full = fit_error(("t", "a", "v"))
    assert all(fit_error(pair) > full + 0.1 for pair in (("a", "v"), ("t", "v"), ("t", "a")))
