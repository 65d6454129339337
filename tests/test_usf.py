"""USF's trust signals: the probe's detach, u_e as an expectation, the common footing of the four
uncertainties, non-negative uncertainties, the expected-error head, and older checkpoints."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from pipeline.checkpoint import model_from_checkpoint, model_payload
from pipeline.model import DSRF, LossConfig
from pipeline.model.config import BEFORE
from pipeline.model.layers import kl_divergence
from pipeline.model.usf import expected_perturbation_kl

from .conftest import make_batch, tiny_config


def build(seed: int = 0, loss: LossConfig | None = None, **overrides) -> DSRF:
    torch.manual_seed(seed)
    return DSRF(tiny_config(**overrides), loss)


def encoder_grads(model: DSRF, term: str) -> list[torch.Tensor]:
    model.zero_grad()
    inputs, lengths, labels = make_batch(6)
    model(inputs, lengths, labels=labels).losses[term].backward()
    return [p.grad for p in model.encoders.parameters() if p.grad is not None and p.grad.abs().sum() > 0]


def test_probe_loss_teaches_the_probe_without_moving_the_backbone():
    detached = build()
    assert encoder_grads(detached, "usf_probe") == []
    assert detached.usf.probe.weight.grad.abs().sum() > 0
    # The option that restores the old behaviour lets the gradient through.
    assert encoder_grads(build(loss=LossConfig(probe_moves_backbone=True)), "usf_probe")


def test_expected_kl_matches_the_mean_over_many_draws():
    g = torch.Generator().manual_seed(0)
    logits_weight = torch.randn(2, 16, 7, generator=g) * 0.5  # W (M, d, C)
    x = torch.randn(5, 2, 16, generator=g)  # (B, M, d)
    std = 0.1
    logits = torch.einsum("bmd,mdc->bmc", x, logits_weight)
    noise = torch.randn(20000, 5, 2, 16, generator=g) * std
    perturbed = logits + torch.einsum("nbmd,mdc->nbmc", noise, logits_weight)
    sampled = kl_divergence(torch.softmax(logits, -1).expand_as(perturbed), torch.softmax(perturbed, -1)).mean(0)  # (B, M)
    analytic = expected_perturbation_kl(logits, logits_weight, std)
    assert torch.allclose(analytic, sampled, rtol=0.05)
    # One draw, what the paper's u_e reads, is far noisier than that.
    one_draw = kl_divergence(torch.softmax(logits, -1), torch.softmax(perturbed[0], -1))
    assert ((one_draw - sampled).abs() / sampled).mean() > 0.2


def test_u_e_is_the_same_quantity_in_training_and_evaluation():
    model = build()
    inputs, lengths, _ = make_batch(4)
    train = model.train()(inputs, lengths).uncertainty
    evaluated = model.eval()(inputs, lengths).uncertainty
    assert torch.allclose(train, evaluated, atol=1e-6)
    sampled = build(u_e="sampled")
    assert not torch.allclose(sampled.train()(inputs, lengths).uncertainty[..., 0], sampled.eval()(inputs, lengths).uncertainty[..., 0])


@pytest.mark.parametrize("footing", ["standardized", "raw"])
def test_no_factor_weight_is_pinned_by_the_unit_of_its_uncertainty(footing):
    """On random inputs, after the running statistics have seen training batches, every factor
    keeps a share of the weight; with the paper's raw units one factor is switched off."""
    model = build(usf_footing=footing, usf_temperature=0.3, hidden=32).train()
    for seed in range(20):
        inputs, lengths, _ = make_batch(8, seed=seed)
        model(inputs, lengths)
    inputs, lengths, _ = make_batch(64, seed=100)
    alpha = model.eval()(inputs, lengths).factor_weights.mean((0, 1))  # (4,)
    if footing == "standardized":
        assert (alpha > 0.1).all() and (alpha < 0.5).all(), alpha
    else:
        assert alpha.min() < 0.02, alpha


@pytest.mark.parametrize("footing", ["standardized", "raw"])
def test_reported_uncertainties_are_never_negative(footing):
    model = build(usf_footing=footing, lambda_cal=5.0)  # a large calibration made them negative before
    inputs, lengths, _ = make_batch(8)
    present = torch.rand(8, 3, generator=torch.Generator().manual_seed(1)) > 0.3
    present[:, 0] = True
    for mode in (model.train(), model.eval()):
        u = mode(inputs, lengths, present).uncertainty
        assert (u >= 0).all()
        assert (u[~present] == 0).all()


def test_expected_error_head_learns_the_error_without_moving_the_model():
    model = build()
    inputs, lengths, labels = make_batch(16)
    out = model(inputs, lengths, labels=labels)
    assert out.expected_error.shape == (16,) and (out.expected_error > 0).all()
    out.losses["scale"].backward()
    moved = [n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert moved and all(n.startswith("error_head.") for n in moved), moved

    # Trained alone on fixed errors, b goes to their mean absolute value (the Laplace MLE).
    errors = (out.prediction - labels).abs().detach()
    optimizer = torch.optim.Adam(model.error_head.parameters(), lr=0.03)
    for _ in range(400):
        optimizer.zero_grad()
        model(inputs, lengths, labels=labels).losses["scale"].backward()
        optimizer.step()
    b = model(inputs, lengths).expected_error.detach()
    assert abs(b.mean() - errors.mean()) < 0.15 * errors.mean()
    assert build(confidence_head=False)(inputs, lengths).expected_error is None


def test_a_checkpoint_from_before_these_fields_is_rebuilt_as_it_was():
    old = build(**{k: v for k, v in BEFORE.items() if k != "probe_moves_backbone"}).eval()
    payload = model_payload(old)
    for key in BEFORE:
        payload["model_config"].pop(key, None)
        payload["own_config"].pop(key, None)
    rebuilt = model_from_checkpoint(payload)
    assert dataclasses.asdict(rebuilt.config) == dataclasses.asdict(old.config)
    assert rebuilt.own.probe_moves_backbone is True
    inputs, lengths, _ = make_batch(4)
    assert torch.equal(rebuilt(inputs, lengths).prediction, old(inputs, lengths).prediction)
