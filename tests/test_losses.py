"""Loss functions and class binning on cases worked out by hand."""
from __future__ import annotations

import math

import pytest
import torch

from pipeline.model.dri import squash
from pipeline.model.losses import class_scores, cross_correlation_penalty, sentiment_classes, supervised_contrastive


def test_supervised_contrastive_by_hand():
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    classes = torch.tensor([0, 0, 1])
    # tau=1: anchor 0 sees sims {1 (positive), 0}; loss = -(1 - log(e + 1)). Anchor 1 the same;
    # anchor 2 has no positive and is left out.
    loss = supervised_contrastive(z, classes, torch.tensor([True, True, True]), tau=1.0)
    assert loss.item() == pytest.approx(math.log(math.e + 1) - 1, abs=1e-6)
    # Without vector 2, each anchor's only candidate is its positive: log-prob 0, loss 0.
    loss = supervised_contrastive(z, classes, torch.tensor([True, True, False]), tau=1.0)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_supervised_contrastive_without_positive_pair_is_zero_with_finite_grad():
    z = torch.randn(3, 4, requires_grad=True)
    loss = supervised_contrastive(z, torch.tensor([0, 1, 2]), torch.ones(3, dtype=torch.bool), tau=0.1)
    assert loss.item() == 0.0
    valid = torch.tensor([True, False, False])
    z2 = torch.randn(3, 4, requires_grad=True)
    loss2 = supervised_contrastive(z2, torch.tensor([0, 0, 0]), valid, tau=0.1)
    (loss + loss2 + (z2 * 0).sum()).backward()
    assert torch.isfinite(z2.grad).all()


def test_cross_correlation_penalty_by_hand():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(4, 1, 1)
    valid = torch.ones(4, 1, dtype=torch.bool)
    # Perfectly correlated: corr 1, squared 1, divided by d² = 1.
    assert cross_correlation_penalty(x, 2 * x + 1, valid).item() == pytest.approx(1.0, abs=1e-4)
    # Deviations (-1.5, -.5, .5, 1.5) and (1, -1, 1, -1): cov -2/4, std √1.25 and 1 → corr -.4472, squared .2.
    y = torch.tensor([1.0, -1.0, 1.0, -1.0]).view(4, 1, 1)
    assert cross_correlation_penalty(x, y, valid).item() == pytest.approx(0.2, abs=1e-4)
    # The invalid row (a wild value) is left out of the statistics entirely.
    x5 = torch.cat([x, torch.full((1, 1, 1), 1e6)])
    y5 = torch.cat([y, torch.full((1, 1, 1), -1e6)])
    valid5 = torch.tensor([[True], [True], [True], [True], [False]])
    assert cross_correlation_penalty(x5, y5, valid5).item() == pytest.approx(0.2, abs=1e-4)


def test_squash_maps_norm_into_unit_ball():
    s = torch.tensor([[2.0, 0.0], [0.0, 0.0], [3.0, 4.0]])
    out = squash(s)
    # |s| = 2 → 4/5; |s| = 5 → 25/26; zero stays zero (epsilon, no NaN).
    assert out.norm(dim=-1).tolist() == pytest.approx([0.8, 0.0, 25 / 26], abs=1e-6)
    assert torch.allclose(out[2] / out[2].norm(), torch.tensor([0.6, 0.8]))


def test_sentiment_classes_round_half_to_even_and_clip():
    labels = torch.tensor([-3.2, -2.5, -0.5, 0.5, 1.5, 2.5, 3.0])
    # rounded: -3, -2, -0, 0, 2, 2, 3 → shifted by 3
    assert sentiment_classes(labels, 7, ()).tolist() == [0, 1, 3, 3, 5, 5, 6]


def test_sentiment_classes_sims_edges_put_edge_values_in_the_lower_bin():
    labels = torch.tensor([-1.0, -0.7, -0.5, -0.1, 0.0, 0.1, 0.5, 0.7, 1.0])
    edges = (-0.7, -0.1, 0.1, 0.7)
    assert sentiment_classes(labels, 5, edges).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4]


def test_each_class_stands_for_a_score_in_its_own_class():
    for classes, edges in ((7, ()), (5, (-0.7, -0.1, 0.1, 0.7))):
        scores = class_scores(classes, edges)
        assert torch.equal(sentiment_classes(scores, classes, edges), torch.arange(classes))
    assert class_scores(5, (-0.7, -0.1, 0.1, 0.7)).tolist() == pytest.approx([-0.85, -0.4, 0.0, 0.4, 0.85])
