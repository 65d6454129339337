"""The measures of explanation quality, against values worked out by hand and a real model."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from pipeline.data.batch import Batch
from pipeline.explanations import auc, occlusion, rank_agreement
from pipeline.model import DSRF

from .conftest import make_batch, tiny_config


def test_auc_is_scikit_learns_with_ties():
    rng = np.random.default_rng(0)
    scores, labels = rng.integers(0, 5, 200).astype(float), rng.random(200) < 0.3
    assert auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))
    assert auc([0.9, 0.8, 0.1], [True, True, False]) == 1.0 and auc([0.1, 0.9], [True, False]) == 0.0
    with pytest.raises(ValueError, match="both classes"):
        auc([0.1, 0.2], [True, True])


def test_rank_agreement_per_clip():
    weights = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.5, 0.5, 0.0]])
    importance = np.array([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [1.0, 2.0, np.nan]])  # the last clip has 2: left out
    assert rank_agreement(weights, importance) == (pytest.approx(0.0), 2)  # +1 and -1
    assert rank_agreement(weights[:1], importance[:1]) == (pytest.approx(1.0), 1)


def test_occlusion_is_the_score_change_without_each_present_modality():
    torch.manual_seed(0)
    model = DSRF(tiny_config()).eval()
    inputs, lengths, labels = make_batch(5)
    present = torch.ones(5, 3, dtype=torch.bool)
    present[1, 2] = False
    present[2, 1:] = False  # text alone: removing it leaves nothing to score
    batch = Batch(inputs, lengths, present, labels, [str(i) for i in range(5)])
    importance = occlusion(model, batch)
    assert np.isnan(importance[1, 2]) and np.isnan(importance[2]).all()
    with torch.no_grad():
        base = model(inputs, lengths, present).prediction
        hidden = present.clone()
        hidden[0, 0] = False
        assert importance[0, 0] == pytest.approx(float((base[0] - model(inputs, lengths, hidden).prediction[0]).abs()), abs=1e-6)
