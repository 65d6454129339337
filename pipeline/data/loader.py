"""Batches for training from the tensor store: memory-mapped reads, train-set normalization.

The dataset fetches a whole batch at once (`__getitems__`): one gather per modality, trimmed to
the longest valid length in the batch, normalized with the train statistics, padding kept at 0.
Pages read through the mmap are released every RELEASE_BYTES, so an epoch over a store larger
than RAM keeps a small resident set (the data stays in the OS page cache, shared and reclaimable).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, SequentialSampler

from .batch import Batch
from .source import TOKENS
from .store import MappedArray, read_manifest

RELEASE_BYTES = 256 << 20


class StoreDataset(Dataset):
    """One split of a store; items are whole `Batch`es (an index gives a batch of one)."""

    def __init__(self, store_dir: str | Path, split: str, modalities: tuple[str, ...] | None = None,
                 fixed_length: bool = False):
        self.store_dir = Path(store_dir)
        self.fixed_length = fixed_length  # every batch keeps the store's full lengths (one shape for CUDA graphs)
        self.manifest = read_manifest(store_dir)
        if split not in self.manifest.splits:
            raise ValueError(f"{self.store_dir}: no split {split!r} (has {', '.join(self.manifest.splits)})")
        self.split = split
        self.modalities = tuple(modalities or self.manifest.modalities)
        unknown = [m for m in self.modalities if m not in self.manifest.modalities]
        if unknown:
            raise ValueError(f"{self.store_dir}: modalities {unknown} not in the store (has {list(self.manifest.modalities)})")
        order = [m for m in self.manifest.modalities if m in self.modalities]  # present's columns keep store order
        self.columns = [self.manifest.modalities.index(m) for m in order]
        self.modalities = tuple(order)
        self.norm = {
            m: (np.asarray(n.mean, np.float32), np.asarray(n.std, np.float32))  # (d,), (d,)
            for m, n in self.manifest.norm.items() if m in self.modalities
        }
        self._open: dict | None = None  # opened lazily, once per process (DataLoader workers included)
        self._bytes_read = 0

    def __len__(self) -> int:
        return self.manifest.splits[self.split]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_open": None}

    def _arrays(self) -> dict:
        if self._open is None:
            folder = self.store_dir / self.split
            self._open = {
                "values": {m: MappedArray(folder / f"{m}.npy") for m in self.modalities},
                "lengths": {m: np.load(folder / f"{m}_lengths.npy") for m in self.modalities},  # (N,)
                "present": np.load(folder / "present.npy")[:, self.columns],  # (N, M)
                "labels": np.load(folder / "labels.npy"),  # (N,)
                "ids": json.loads((folder / "ids.json").read_text()),
                "tokens": MappedArray(folder / f"{TOKENS}.npy") if self.manifest.text_tokens and "t" in self.modalities else None,
            }
        return self._open

    def __getitems__(self, indices: list[int]) -> Batch:
        arrays = self._arrays()
        index = np.asarray(indices, dtype=np.int64)  # (B,)
        inputs, lengths, tokens = {}, {}, None
        for m in self.modalities:
            n = arrays["lengths"][m][index]  # (B,)
            steps = arrays["values"][m].array.shape[1] if self.fixed_length else max(1, int(n.max()))
            x = arrays["values"][m].array[index, :steps].astype(np.float32, copy=False)  # (B, T, d), a copy
            self._bytes_read += x.nbytes
            if m in self.norm:
                mean, std = self.norm[m]
                x = (x - mean) / std
                x[np.arange(steps)[None, :] >= n[:, None]] = 0.0  # padding stays 0
            inputs[m] = torch.from_numpy(x)
            lengths[m] = torch.from_numpy(n.astype(np.int64))
            if m == "t" and arrays["tokens"] is not None:
                tokens = torch.from_numpy(arrays["tokens"].array[index, :steps].astype(np.int64))  # (B, T), a copy
        if self._bytes_read > RELEASE_BYTES:
            for mapped in arrays["values"].values():
                mapped.release()
            self._bytes_read = 0
        return Batch(
            inputs=inputs,
            lengths=lengths,
            present=torch.from_numpy(arrays["present"][index]),
            labels=torch.from_numpy(arrays["labels"][index].astype(np.float32)),
            ids=[arrays["ids"][i] for i in index],
            tokens=tokens,
            index=torch.from_numpy(index),
        )

    def __getitem__(self, index: int) -> Batch:
        return self.__getitems__([index])


def _as_is(batch: Batch) -> Batch:
    return batch


def make_loader(store_dir: str | Path, split: str, batch_size: int, *, shuffle: bool, seed: int = 0,
                distributed: bool = False, modalities: tuple[str, ...] | None = None, num_workers: int = 0,
                drop_last: bool = False, fixed_length: bool = False) -> DataLoader:
    """Batches of one split. When shuffled, call `loader.sampler.set_epoch(epoch)` each epoch: the
    order is drawn from (seed, epoch), so runs repeat exactly. `fixed_length` keeps the store's
    lengths instead of trimming each batch to its longest clip."""
    dataset = StoreDataset(store_dir, split, modalities, fixed_length)
    if distributed:
        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)
    elif shuffle:
        # A one-replica DistributedSampler: the order is a function of (seed, epoch) alone, so a
        # resumed run and a run on N processes see the same batches as an uninterrupted single one.
        sampler = DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=seed)
    else:
        sampler = SequentialSampler(dataset)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=drop_last,
        num_workers=num_workers,
        collate_fn=_as_is,
        persistent_workers=num_workers > 0,
    )
