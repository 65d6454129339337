"""Training-time perturbation: modalities dropped, replaced by noise, or replaced by another clip's.

A model that is to find the unreliable modality of a sample has to meet unreliable modalities in
training; these are the params `train.modality_dropout`, `train.feature_noise` and
`train.feature_conflict` (all 0, off, by default).

- dropout: each (clip, modality) is marked missing with probability `dropout` (the presence mask:
  the model never reads it), except that a clip always keeps one of the modalities it has;
- noise: a fraction of the clips get one of their present modalities replaced by N(0, 1) on its
  valid steps (the store's features are z-scored, so this is noise at the features' own scale;
  text given as token ids, for a fine-tuned encoder, is not among the candidates: noise on stored
  features would not reach it);
- conflict: a further fraction get one present modality replaced by the same modality of another
  clip of the batch, with its length: a cue that speaks for someone else's sentiment.

Every draw about a clip comes from a generator seeded by (seed, epoch, clip id), so what happens to
a clip does not depend on the batching, the number of DDP processes, or a resume; only the partner
of a conflict is another clip of the same batch.
"""
from __future__ import annotations

import dataclasses
import hashlib

import torch

from .data.batch import Batch
from .setup import Perturbation


def clip_generator(seed: int, epoch: int, clip_id: str) -> torch.Generator:
    digest = hashlib.sha256(f"{seed}:{epoch}:{clip_id}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def perturb_batch(batch: Batch, p: Perturbation, seed: int, epoch: int) -> tuple[Batch, dict[str, float]]:
    """A perturbed copy of a CPU `batch` (the original is left as it was; its `corrupted` marks the
    modalities noised or swapped, which a model may learn to flag: `loss.w_flag`), and the share of
    clips each kind reached: {"dropped": clips with a modality dropped, "noised", "conflicting"}."""
    modalities = list(batch.inputs)
    size, count = len(batch), len(modalities)
    present = batch.present.clone()  # (B, M)
    inputs = {m: x.clone() for m, x in batch.inputs.items()}
    lengths = {m: n.clone() for m, n in batch.lengths.items()}
    tokens = None if batch.tokens is None else batch.tokens.clone()
    corrupted = torch.zeros_like(present)  # (B, M)
    dropped = noised = conflicting = 0
    noisable = torch.tensor([not (m == "t" and tokens is not None) for m in modalities])  # (M,)
    for i, clip in enumerate(batch.ids):
        g = clip_generator(seed, epoch, clip)
        drop = (torch.rand(count, generator=g) < p.dropout) & present[i]  # (M,)
        had = present[i].clone()
        if drop.any() and not (had & ~drop).any():  # never every modality: keep one, at random
            drop[_pick(had, g)] = False
        present[i] &= ~drop
        dropped += int(drop.any())
        kind = float(torch.rand(1, generator=g))
        if kind >= p.noise + p.conflict:
            continue
        candidates = present[i] & (noisable if kind < p.noise else torch.ones(count, dtype=torch.bool))
        if not candidates.any():
            continue
        m = modalities[_pick(candidates, g)]
        if kind < p.noise:
            steps = int(lengths[m][i])
            inputs[m][i, :steps] = torch.randn(steps, inputs[m].shape[-1], generator=g)
            corrupted[i, modalities.index(m)] = True
            noised += 1
            continue
        others = [j for j in range(size) if j != i and batch.present[j, modalities.index(m)]]
        if not others:
            continue
        j = others[int(torch.randint(len(others), (1,), generator=g))]
        inputs[m][i] = batch.inputs[m][j]
        lengths[m][i] = batch.lengths[m][j]
        if m == "t" and tokens is not None:
            tokens[i] = batch.tokens[j]
        corrupted[i, modalities.index(m)] = True
        conflicting += 1
    shares = {"dropped": dropped / size, "noised": noised / size, "conflicting": conflicting / size}
    return dataclasses.replace(batch, inputs=inputs, lengths=lengths, present=present, tokens=tokens, corrupted=corrupted), shares


def _pick(mask: torch.Tensor, g: torch.Generator) -> int:
    """A uniformly drawn index among the True entries of `mask` (M,)."""
    choices = torch.nonzero(mask).flatten()
    return int(choices[torch.randint(len(choices), (1,), generator=g)])
