"""USF's trust signals: the probe's detach, u_e as an expectation, the common footing of the four
uncertainties, non-negative uncertainties, the expected-error head, the flag loss, the trust loss,
the ablation switch, and older checkpoints."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from pipeline.checkpoint import model_from_checkpoint, model_payload
from pipeline.model import DSRF, LossConfig
from pipeline.model.config import BEFORE
from pipeline.model.confidence import laplace_nll
from pipeline.model.layers import kl_divergence
from pipeline.model.usf import FusionInputs, expected_perturbation_kl

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

    # Trained alone on the model's fixed evidence and errors, b goes to their mean absolute value
    # (the Laplace MLE); the model in eval mode, so the evidence does not change between steps.
    evidence = {}
    model.error_head.register_forward_pre_hook(lambda module, args: evidence.update(x=args[0]))  # returns None: the input stays
    prediction = model.eval()(inputs, lengths).prediction.detach()
    errors = (prediction - labels).abs()
    optimizer = torch.optim.Adam(model.error_head.parameters(), lr=0.03)
    for _ in range(400):
        optimizer.zero_grad()
        laplace_nll(model.error_head(evidence["x"]), prediction, labels).backward()
        optimizer.step()
    b = model.error_head(evidence["x"]).detach()
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


def test_flag_loss_teaches_the_scores_to_single_out_corrupted_modalities():
    """With `loss.w_flag`, the modalities marked corrupted get lower weights than the same clips'
    others after a few steps on that term alone; without it (or without a mask) the term is absent."""
    model = build(loss=LossConfig(w_flag=1.0), hidden=32).train()
    inputs, lengths, labels = make_batch(32)
    corrupted = torch.zeros(32, 3, dtype=torch.bool)
    corrupted[torch.arange(32), torch.arange(32) % 3] = True  # one modality per clip
    inputs = {m: torch.where(corrupted[:, i, None, None], torch.randn_like(x) * 3, x) for i, (m, x) in enumerate(inputs.items())}
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):
        optimizer.zero_grad()
        model(inputs, lengths, labels=labels, corrupted=corrupted).losses["flag"].backward()
        optimizer.step()
    w = model.eval()(inputs, lengths).modality_weights  # (B, M)
    assert (w[corrupted] < 0.2).float().mean() > 0.9, w[corrupted]
    assert "flag" not in build()(inputs, lengths, labels=labels, corrupted=corrupted).losses
    assert "flag" not in build(loss=LossConfig(w_flag=1.0))(inputs, lengths, labels=labels).losses


def test_trust_loss_is_the_likelihood_of_each_modalitys_error_whatever_its_unit():
    """The trust loss is a Gaussian NLL of each modality's own error with variance exp(score):
    errors 10 times larger give the same gradient, and descent raises the score (lowers the weight)
    of the modality that errs most and lowers that of the best one; its optimum is the log of the
    mean squared error, up to the batch's offset."""
    model = build(loss=LossConfig(w_trust=1.0))
    present = torch.ones(2, 3, dtype=torch.bool)
    errors = torch.tensor([[0.2, 0.4, 3.0], [1.0, 0.3, 0.5]])

    def loss_and_grad(scores: torch.Tensor, errors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = scores.clone().requires_grad_()
        fused = FusionInputs(*(torch.zeros(2, 3, 8),) * 2, torch.full((2, 3), 1 / 3), torch.zeros(2, 3, 4),
                             torch.zeros(2, 3, 8), scores.unsqueeze(-1).expand(2, 3, 4))
        loss = model.usf.trust_loss(fused, present, errors)
        return loss, torch.autograd.grad(loss, scores)[0]

    _, grad = loss_and_grad(torch.zeros(2, 3), errors)
    assert torch.allclose(grad, loss_and_grad(torch.zeros(2, 3), errors * 10)[1])
    assert grad[0, 2] < 0 < grad[0, 0]  # descent raises the erring modality's score, lowers the best one's
    # At s = log e² (any common offset) the gradient vanishes.
    _, at_optimum = loss_and_grad(torch.log(errors**2) + 0.7, errors)
    assert at_optimum.abs().max() < 1e-6


def test_trust_loss_lowers_the_weight_of_a_modality_that_cannot_predict():
    """Modality t shows the label, a and v show fresh noise at every step: trained on the HSF terms
    (which fit the emotion head) plus the trust loss, t weighs most in every clip; on the HSF terms
    alone it does not. The term is absent when off or without HSF."""
    def weights_after(loss: LossConfig, terms: tuple[str, ...]) -> torch.Tensor:
        model = build(loss=loss, hidden=32).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        for step in range(60):
            inputs, lengths, labels = make_batch(32, seed=step)
            inputs["t"] = labels[:, None, None].expand_as(inputs["t"]) + 0.1 * inputs["t"]
            optimizer.zero_grad()
            losses = model(inputs, lengths, labels=labels).losses
            sum(losses[t] for t in terms).backward()
            optimizer.step()
        return model.eval()(inputs, lengths).modality_weights  # (B, M)

    assert (weights_after(LossConfig(w_trust=1.0), ("hsf", "trust")).argmax(-1) == 0).float().mean() > 0.9
    assert (weights_after(LossConfig(), ("hsf",)).argmax(-1) == 0).float().mean() < 0.5
    inputs, lengths, labels = make_batch(4)
    assert "trust" not in build()(inputs, lengths, labels=labels).losses
    assert "trust" not in build(loss=LossConfig(w_trust=1.0), use_hsf=False)(inputs, lengths, labels=labels).losses


def test_without_usf_each_factor_counts_once_and_nothing_of_usf_runs():
    model = build(use_usf=False).eval()
    inputs, lengths, labels = make_batch(4)
    captured = {}
    model.usf.register_forward_hook(lambda module, args, out: captured.update(args=args, out=out))
    out = model(inputs, lengths, labels=labels)
    factors, h_hat, present = captured["args"]
    expected = model.usf.norm(factors.mean(2) + h_hat)  # LN(mean of r_e, r_c, r_a, r_n + ĥ)
    assert torch.allclose(captured["out"].z, expected, atol=1e-6)
    assert (out.factor_weights == 0.25).all() and (out.uncertainty == 0).all()
    assert not any(name.startswith("usf") for name in out.losses) and not hasattr(model.usf, "probe")


def test_a_column_that_hardly_varies_is_not_blown_up_to_unit_spread():
    """Standardized, a column with 1 % spread around 1 keeps z-scores of about .1, not 1: its
    rounding noise does not get the say of an informative column."""
    from pipeline.model.usf import RunningStandardizer

    g = torch.Generator().manual_seed(0)
    u = torch.stack([torch.rand(256, generator=g) * 3, 1 + 0.01 * torch.randn(256, generator=g)], -1)  # (N, 2)
    rows = torch.ones(256, dtype=torch.bool)
    footing = RunningStandardizer(2).train()
    z = footing(u, rows)
    assert 0.9 < z[:, 0].std() < 1.1 and z[:, 1].std() < 0.15
