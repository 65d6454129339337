"""Do DSRF's explanations discriminate? Measures on a set whose unreliable modalities are known.

- `auc`: how well a score ranks the corrupted (noisy or conflicting) modalities of the clips above
  the clean ones (ROC AUC: 0.5 is chance, 1 perfect). Applied to −w^m (a low weight should mean
  corrupted) and to each calibrated uncertainty ũ (a high one should).
- `occlusion_effects`: what each present modality does to a clip's score, score − score without it
  (the modality marked missing, everything else unchanged); `occlusion`, its importance, the size
  of that effect.
- `rank_agreement`: per clip, Spearman's rank correlation between the modality weights and the
  occlusion importances over its present modalities, averaged over clips with at least three.
"""
from __future__ import annotations

import numpy as np
import torch

from .data.batch import Batch


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC of `scores` (N,) for the boolean labels `positive` (N,), ties counted half (Mann-Whitney U)."""
    scores, positive = np.asarray(scores, dtype=float), np.asarray(positive, dtype=bool)
    pos, neg = scores[positive], scores[~positive]
    if not len(pos) or not len(neg):
        raise ValueError(f"auc: needs both classes, got {len(pos)} positive and {len(neg)} negative")
    ranks = _ranks(np.concatenate([pos, neg]))
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


@torch.no_grad()
def occlusion_effects(model, batch: Batch) -> np.ndarray:
    """(B, M): score − score with modality m marked missing, for each present modality; NaN where it
    is absent, or is the clip's only one (a clip left with no modality has no score to compare)."""
    model.eval()
    base = model(batch.inputs, batch.lengths, batch.present, tokens=batch.tokens).prediction.float()  # (B,)
    effects = torch.full(batch.present.shape, float("nan"))
    for i in range(batch.present.shape[1]):
        present = batch.present.clone()
        present[:, i] = False
        keep = batch.present[:, i] & present.any(1)
        without = model(batch.inputs, batch.lengths, present, tokens=batch.tokens).prediction.float()
        effects[keep, i] = (base - without)[keep]
    return effects.numpy()


def occlusion(model, batch: Batch) -> np.ndarray:
    """(B, M): |score − score with modality m marked missing| for each present modality; NaN where absent."""
    return np.abs(occlusion_effects(model, batch))


def rank_agreement(weights: np.ndarray, importance: np.ndarray) -> tuple[float, int]:
    """(mean Spearman correlation over clips, how many clips) between weights (B, M) and importance
    (B, M) over each clip's present modalities (importance not NaN); clips with fewer than 3 are left out."""
    correlations = []
    for w, imp in zip(weights, importance):
        kept = ~np.isnan(imp)
        if kept.sum() < 3:
            continue
        a, b = _ranks(w[kept]), _ranks(imp[kept])
        if a.std() == 0 or b.std() == 0:
            correlations.append(0.0)  # a constant ranking agrees with nothing
            continue
        correlations.append(float(np.corrcoef(a, b)[0, 1]))
    return (float(np.mean(correlations)) if correlations else float("nan")), len(correlations)


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..N, ties given their mean rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks

