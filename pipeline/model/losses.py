"""Loss functions that more than one DSRF module uses (pure functions of tensors)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

# Stands in for -inf in masked log-sum-exps: a finite value keeps the gradient of a row with no
# candidates at 0 instead of NaN (0 * NaN is NaN).
_MASKED = -1e9


def sentiment_classes(labels: torch.Tensor, num_classes: int, class_edges: tuple[float, ...]) -> torch.Tensor:
    """Class index of each score (docs/model.md §6): rounded and clipped (MOSI/MOSEI), or cut at edges (SIMS)."""
    if class_edges:
        edges = torch.tensor(class_edges, dtype=labels.dtype, device=labels.device)
        # right=False puts a score equal to an edge in the lower bin (edges[i-1] < y <= edges[i]),
        # the MMSA convention.
        return torch.bucketize(labels, edges, right=False)
    half = num_classes // 2
    # torch.round rounds half to even, as np.round does in the community's metrics code.
    return (torch.round(labels.clamp(-half, half)) + half).long()


def class_scores(num_classes: int, class_edges: tuple[float, ...]) -> torch.Tensor:
    """The score each sentiment class stands for (C,): the integer it rounds to (MOSI/MOSEI), or the
    middle of its interval in [-1, 1] (SIMS), so a classifier's prediction is a score like a regressor's."""
    if class_edges:
        bounds = torch.tensor([-1.0, *class_edges, 1.0])
        return (bounds[:-1] + bounds[1:]) / 2
    half = num_classes // 2
    return torch.arange(-half, half + 1, dtype=torch.float32)


def task_loss(output: torch.Tensor, labels: torch.Tensor, classes: torch.Tensor, task: str) -> torch.Tensor:
    """Per-sample task loss, no reduction: L1 on scores (output (...,)) or cross-entropy (output (..., C))."""
    if task == "regression":
        return (output - labels).abs()
    return F.cross_entropy(output.flatten(0, -2), classes.flatten(), reduction="none").view(classes.shape)


def supervised_contrastive(z: torch.Tensor, classes: torch.Tensor, valid: torch.Tensor, tau: float) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020) on vectors z (N, d) with class ids (N,).

    Cosine similarity; positives share a class; only `valid` vectors take part. Anchors with no
    positive are left out, and a batch with no positive pair at all gives 0 (not NaN).
    """
    z = F.normalize(z, dim=-1)
    sim = z @ z.T / tau  # (N, N)
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    candidates = valid[:, None] & valid[None, :] & ~eye  # (N, N)
    positives = candidates & (classes[:, None] == classes[None, :])
    log_prob = sim - torch.logsumexp(sim.masked_fill(~candidates, _MASKED), dim=1, keepdim=True)
    n_pos = positives.sum(1)  # (N,)
    anchors = (n_pos > 0).to(z.dtype)  # (N,)
    per_anchor = -(log_prob.masked_fill(~positives, 0.0)).sum(1) / n_pos.clamp(min=1)
    # Masked mean, not indexing: no data-dependent shape, so torch.compile keeps one graph.
    return (per_anchor * anchors).sum() / anchors.sum().clamp(min=1)


def cross_correlation_penalty(x: torch.Tensor, y: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean over modalities of ||corr(x, y)||_F² / d², x and y (B, M, d) standardized over the batch.

    Only valid (B, M) rows count; a modality with fewer than 2 valid samples has no defined
    correlation and is left out (0 when none has).
    """
    w = valid.unsqueeze(-1).to(x.dtype)  # (B, M, 1)
    n = w.sum(0)  # (M, 1)

    def standardize(t: torch.Tensor) -> torch.Tensor:
        mean = (t * w).sum(0) / n.clamp(min=1)
        var = ((t - mean) ** 2 * w).sum(0) / n.clamp(min=1)
        return (t - mean) / torch.sqrt(var + 1e-5) * w

    corr = torch.einsum("bmi,bmj->mij", standardize(x), standardize(y)) / n.clamp(min=1).unsqueeze(-1)  # (M, d, d)
    per_modality = corr.pow(2).sum((1, 2)) / x.shape[-1] ** 2  # (M,)
    enough = (n.squeeze(-1) >= 2).to(x.dtype)  # (M,)
    return (per_modality * enough).sum() / enough.sum().clamp(min=1)
