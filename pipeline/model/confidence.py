"""How sure a prediction is: a head for each clip's expected absolute error (docs/model.md §5).

An L1 regressor's prediction is the median of a Laplace distribution whose scale b is the expected
absolute error; the head predicts b and trains with the Laplace negative log-likelihood
|y − ŷ| / b + log b, whose minimum over b is b = E|y − ŷ|. It reads the model's detached features
and prediction, so it learns beside the model without moving it: accuracy is what it would be
without the head.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# The smallest scale: keeps log b finite for a clip the model predicts exactly.
MIN_SCALE = 1e-3


class ExpectedErrorHead(nn.Module):
    """Detached features (B, n) -> expected absolute error b (B,) > 0."""

    def __init__(self, features: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.net(features.detach())).squeeze(-1) + MIN_SCALE


def laplace_nll(scale: torch.Tensor, prediction: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean Laplace negative log-likelihood (without log 2) of the labels (B,) around the detached
    prediction (B,) with scale b (B,): trains b alone."""
    return ((labels - prediction.detach()).abs() / scale + torch.log(scale)).mean()
