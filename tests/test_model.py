"""DSRF model: shapes under every switch, routing, gradients, missing modalities, determinism."""
from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch

from pipeline.model import DSRF, LossConfig
from pipeline.model.dri import DynamicRouting

from .conftest import make_batch, tiny_config

SUBSETS = [s for r in (1, 2, 3) for s in itertools.combinations(("t", "a", "v"), r)]
SWITCHES = list(itertools.product([True, False], repeat=3))  # use_hsf, use_dri, use_usf
FUSIONS = ("concat", "attention", "transformer")


def build(seed: int = 0, **overrides) -> DSRF:
    torch.manual_seed(seed)
    return DSRF(tiny_config(**overrides))


@pytest.mark.parametrize("modalities", SUBSETS, ids=["".join(s) for s in SUBSETS])
@pytest.mark.parametrize("switches", SWITCHES, ids=[f"hsf{int(a)}dri{int(b)}usf{int(c)}" for a, b, c in SWITCHES])
@pytest.mark.parametrize("batch", [1, 4])
def test_output_shapes_for_every_subset_and_switch(modalities, switches, batch):
    use_hsf, use_dri, use_usf = switches
    model = build(modalities=modalities, use_hsf=use_hsf, use_dri=use_dri, use_usf=use_usf)
    inputs, lengths, labels = make_batch(batch, modalities)
    out = model(inputs, lengths, labels=labels)
    num_m = len(modalities)
    assert out.prediction.shape == (batch,)
    assert out.factor_weights.shape == (batch, num_m, 4)
    assert out.modality_weights.shape == (batch, num_m)
    assert out.routing.shape == (batch, num_m, 4, 4)
    assert out.uncertainty.shape == (batch, num_m, 4)
    assert torch.allclose(out.modality_weights.sum(1), torch.ones(batch))
    assert torch.allclose(out.factor_weights.sum(-1), torch.ones(batch, num_m))
    expected = {"task", "total"} | ({"emo", "mi", "ctx", "orth", "amb", "ent_a", "noise", "hsf"} if use_hsf else set())
    expected |= {"dri"} if use_dri else set()
    expected |= {"usf_kl", "usf_ent", "usf_probe", "usf"} if use_usf else set()
    assert set(out.losses) == expected | {"scale"}  # the expected-error head's, tests/test_usf.py
    assert all(torch.isfinite(v) for v in out.losses.values()), out.losses


@pytest.mark.parametrize("fusion", FUSIONS)
def test_fusions_and_classification_task(fusion):
    model = build(fusion=fusion, task="classification")
    inputs, lengths, labels = make_batch(3)
    out = model(inputs, lengths, labels=labels)
    assert out.logits.shape == (3, 7)
    assert torch.equal(out.prediction, out.logits.argmax(-1).float() - 3)  # the score of the arg-max class
    assert torch.isfinite(out.loss)


def test_model_builds_only_what_it_needs():
    full = build()
    bare = build(modalities=("t",), use_hsf=False, use_dri=False, use_usf=False)
    assert set(full.encoders) == {"t", "a", "v"} and set(bare.encoders) == {"t"}
    assert bare.hsf is None and bare.dri is None and not hasattr(bare.usf, "probe")
    assert sum(p.numel() for p in bare.parameters()) < sum(p.numel() for p in full.parameters()) / 3


def test_routing_capsules_differ_and_couplings_sum_to_one():
    torch.manual_seed(0)
    dri = DynamicRouting(num_modalities=3, hidden=16, capsules=4, iterations=3)
    factors = torch.randn(5, 3, 4, 16)
    h_hat, coupling, capsules = dri(factors)
    assert h_hat.shape == (5, 3, 16) and coupling.shape == (5, 3, 4, 4) and capsules.shape == (5, 3, 4, 16)
    assert torch.allclose(coupling.sum(-1), torch.ones(5, 3, 4))
    # Every pair of output capsules differs, for every sample and modality.
    for k, j in itertools.combinations(range(4), 2):
        gap = (capsules[:, :, k] - capsules[:, :, j]).norm(dim=-1)
        assert (gap > 1e-3).all(), (k, j, gap.min())
    # Routing moved away from the uniform start: agreement made the couplings unequal.
    assert (coupling.std(-1) > 1e-4).all()


def test_routing_is_batched_per_sample():
    """Routing a sample alone gives the same result as inside a batch: no cross-sample mixing."""
    torch.manual_seed(0)
    dri = DynamicRouting(num_modalities=2, hidden=8, capsules=3, iterations=3)
    factors = torch.randn(6, 2, 4, 8)
    batched = dri(factors)[1]
    single = torch.cat([dri(factors[i : i + 1])[1] for i in range(6)])
    assert torch.allclose(batched, single, atol=1e-6)


@pytest.mark.parametrize("switches", SWITCHES, ids=[f"hsf{int(a)}dri{int(b)}usf{int(c)}" for a, b, c in SWITCHES])
@pytest.mark.parametrize("fusion", FUSIONS)
def test_gradients_reach_every_parameter(switches, fusion):
    use_hsf, use_dri, use_usf = switches
    model = build(use_hsf=use_hsf, use_dri=use_dri, use_usf=use_usf, fusion=fusion)
    # An odd batch: the L1 gradient of the output bias is a sum of ±1/B, never exactly 0.
    inputs, lengths, labels = make_batch(7)
    model(inputs, lengths, labels=labels).loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []


@pytest.mark.parametrize("garbage", ["huge", "nan"])
@pytest.mark.parametrize("fusion", FUSIONS)
def test_missing_modality_ignores_its_input(garbage, fusion):
    model = build(fusion=fusion).eval()
    inputs, lengths, labels = make_batch(4)
    present = torch.ones(4, 3, dtype=torch.bool)
    present[1, 2] = False  # sample 1 has no face
    present[3, 1] = False  # sample 3 has no audio
    clean = model(inputs, lengths, present, labels)

    spoiled = {m: x.clone() for m, x in inputs.items()}
    fill = float("nan") if garbage == "nan" else 1e4
    spoiled["v"][1] = torch.full_like(spoiled["v"][1], fill)
    spoiled["a"][3] = torch.randn_like(spoiled["a"][3]) * fill
    dirty = model(spoiled, lengths, present, labels)

    for name in ("prediction", "factor_weights", "modality_weights", "routing", "uncertainty"):
        assert torch.allclose(getattr(clean, name), getattr(dirty, name), atol=1e-6), name
    for name, value in clean.losses.items():
        assert torch.allclose(value, dirty.losses[name], atol=1e-6), name
    assert dirty.modality_weights[1, 2] == 0 and dirty.modality_weights[3, 1] == 0
    assert (dirty.factor_weights[1, 2] == 0).all() and (dirty.routing[3, 1] == 0).all()


def test_missing_modality_from_zero_length_and_backward_stays_finite():
    model = build()
    inputs, lengths, labels = make_batch(4)
    lengths["a"][0] = 0
    inputs["a"][0] = float("nan")
    out = model(inputs, lengths, labels=labels)
    assert out.modality_weights[0, 1] == 0
    out.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_same_seed_same_output_and_eval_is_deterministic():
    inputs, lengths, labels = make_batch(4)
    first = build(seed=7).train()
    second = build(seed=7).train()
    torch.manual_seed(99)
    a = first(inputs, lengths, labels=labels)
    torch.manual_seed(99)
    b = second(inputs, lengths, labels=labels)
    assert torch.equal(a.prediction, b.prediction) and torch.equal(a.loss, b.loss)

    model = build(seed=7, dropout=0.3).eval()
    runs = [model(inputs, lengths) for _ in range(3)]
    for run in runs[1:]:
        assert torch.equal(run.prediction, runs[0].prediction)
        assert torch.equal(run.uncertainty, runs[0].uncertainty)
    # A clip's score does not depend on its batch-mates (the eval perturbation is per modality).
    alone = model({m: x[2:3] for m, x in inputs.items()}, {m: n[2:3] for m, n in lengths.items()})
    assert torch.allclose(alone.prediction, runs[0].prediction[2:3], atol=1e-5)


def test_training_mode_perturbation_is_random_when_sampled():
    model = build(u_e="sampled").train()
    inputs, lengths, _ = make_batch(4)
    first, second = model(inputs, lengths), model(inputs, lengths)
    # u_e (factor 0) uses a fresh ε each call in training; the other uncertainties do not.
    assert not torch.equal(first.uncertainty[..., 0], second.uncertainty[..., 0])
    assert torch.equal(first.uncertainty[..., 1:], second.uncertainty[..., 1:])


def test_usf_off_gives_equal_weights():
    model = build(use_usf=False).eval()
    inputs, lengths, _ = make_batch(3)
    present = torch.tensor([[True, True, True], [True, False, True], [True, False, False]])
    out = model(inputs, lengths, present)
    assert torch.allclose(out.factor_weights[0], torch.full((3, 4), 0.25))
    assert torch.allclose(out.modality_weights, torch.tensor([[1 / 3] * 3, [0.5, 0, 0.5], [1.0, 0, 0]]))


def test_usf_loss_maximizes_entropy():
    """docs/model.md §5: L_USF = KL − gamma_u·H (the paper's +γH is corrected)."""
    model = build()
    inputs, lengths, labels = make_batch(4)
    losses = model(inputs, lengths, labels=labels).losses
    w = model.loss_config
    assert torch.allclose(losses["usf"], losses["usf_kl"] - w.gamma_u * losses["usf_ent"] + w.w_probe * losses["usf_probe"])
    assert losses["usf_ent"] > 0


def test_batch_of_one_has_zero_contrastive_terms():
    model = build(modalities=("t",))
    inputs, lengths, labels = make_batch(1, ("t",))
    losses = model(inputs, lengths, labels=labels).losses
    # One vector: no positive pair for L_mi, none for L_n, no batch correlation for L_orth.
    assert losses["mi"] == 0 and losses["noise"] == 0 and losses["orth"] == 0


def test_the_probe_loss_trains_the_probe_and_the_temperature_sharpens_the_weights():
    inputs, lengths, labels = make_batch(8)
    paper = build(usf_temperature=1.0)
    paper = DSRF(paper.config, LossConfig(w_probe=0.0))
    with_probe = DSRF(paper.config, LossConfig(w_probe=0.5))
    with_probe.load_state_dict(paper.state_dict())
    a, b = paper(inputs, lengths, labels=labels).losses, with_probe(inputs, lengths, labels=labels).losses
    assert a["usf_probe"] > 0 and torch.allclose(a["usf_probe"], b["usf_probe"])
    assert torch.allclose(b["usf"], a["usf"] + 0.5 * a["usf_probe"])
    sharp = DSRF(dataclasses.replace(paper.config, usf_temperature=0.1))
    sharp.load_state_dict(paper.state_dict())
    spread = lambda out: out.modality_weights.max(1).values - out.modality_weights.min(1).values  # noqa: E731
    paper.eval(), sharp.eval()
    assert (spread(sharp(inputs, lengths)) > spread(paper(inputs, lengths))).all()
