"""Batches for training from the tensor store: memory-mapped reads, train-set normalization.

The dataset fetches a whole batch at once (`__getitems__`): one gather per modality, trimmed to
the longest valid length in the batch, normalized with the train statistics, padding kept at 0.
Pages read through the mmap are released every RELEASE_BYTES, so an epoch over a store larger
than RAM keeps a small resident set (the data stays in the OS page cache, shared and reclaimable).
Text is read from one of the store's transcripts (`transcripts`, pipeline/transcripts.py) or,
with several, from the one `TranscriptDraw` picked for each clip and epoch.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, SequentialSampler

from .batch import Batch
from .source import HIDDEN, TOKENS
from .store import MappedArray, read_manifest
from ..transcripts import DEFAULT, check_sources, draw_sources, keyed

RELEASE_BYTES = 256 << 20


class StoreDataset(Dataset):
    """One split of a store; items are whole `Batch`es (an index gives a batch of one).

    An item is a clip index, or (index, k): the clip with its text read from `transcripts[k]`.
    With `hidden`, `Batch.tokens` holds the text encoder's states below its tuned layers (the
    store's t_hidden) instead of the input ids."""

    def __init__(self, store_dir: str | Path, split: str, modalities: tuple[str, ...] | None = None,
                 fixed_length: bool = False, transcripts: tuple[str, ...] = (DEFAULT,), hidden: bool = False):
        self.store_dir = Path(store_dir)
        self.fixed_length = fixed_length  # every batch keeps the store's full lengths (one shape for CUDA graphs)
        self.manifest = read_manifest(store_dir)
        check_sources(tuple(transcripts), self.manifest.transcripts, "transcripts", f"the store {self.store_dir}")
        if hidden and not self.manifest.text_hidden:
            raise ValueError(f"{self.store_dir}: no text states below tuned layers (t_hidden.npy); set "
                             "features.text.top_layers and rerun `pipeline features` and `pipeline tensors`")
        self.transcripts, self.hidden = tuple(transcripts), hidden
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
            # Per modality one entry per transcript source (text) or just one (audio, vision).
            names = {m: [keyed(m, s) for s in self.transcripts] if m == "t" else [m] for m in self.modalities}
            side = HIDDEN if self.hidden else TOKENS if self.manifest.text_tokens else None
            self._open = {
                "values": {m: [MappedArray(folder / f"{name}.npy") for name in names[m]] for m in self.modalities},
                "lengths": {m: np.stack([np.load(folder / f"{name}_lengths.npy") for name in names[m]]) for m in self.modalities},  # (S, N)
                "present": np.load(folder / "present.npy")[:, self.columns],  # (N, M)
                "labels": np.load(folder / "labels.npy"),  # (N,)
                "ids": json.loads((folder / "ids.json").read_text()),
                "side": [MappedArray(folder / f"{keyed(side, s)}.npy") for s in self.transcripts] if side and "t" in self.modalities else None,
            }
        return self._open

    def __getitems__(self, items: list[int] | list[tuple[int, int]]) -> Batch:
        arrays = self._arrays()
        pairs = [item if isinstance(item, tuple) else (item, 0) for item in items]
        index = np.asarray([i for i, _ in pairs], dtype=np.int64)  # (B,)
        source = np.asarray([k for _, k in pairs], dtype=np.int64)  # (B,) which transcript each clip's text is read from
        inputs, lengths, tokens = {}, {}, None
        present = arrays["present"][index]  # (B, M)
        for column, m in enumerate(self.modalities):
            pick = source if m == "t" else np.zeros_like(source)
            n = arrays["lengths"][m][pick, index]  # (B,)
            steps = arrays["values"][m][0].array.shape[1] if self.fixed_length else max(1, int(n.max()))
            x = gather(arrays["values"][m], index, pick, steps).astype(np.float32, copy=False)  # (B, T, d), a copy
            self._bytes_read += x.nbytes
            if m in self.norm:
                mean, std = self.norm[m]
                x = (x - mean) / std
                x[np.arange(steps)[None, :] >= n[:, None]] = 0.0  # padding stays 0
            inputs[m] = torch.from_numpy(x)
            lengths[m] = torch.from_numpy(n.astype(np.int64))
            if m == "t":
                if self.transcripts != (DEFAULT,):
                    present[:, column] = n > 0  # another transcript may be empty where the default one is not
                if arrays["side"] is not None:  # input ids (B, T) int64, or the states below the tuned layers (B, T, d) float32
                    side = gather(arrays["side"], index, pick, steps)
                    tokens = torch.from_numpy(side.astype(np.float32 if self.hidden else np.int64, copy=False))
        if self._bytes_read > RELEASE_BYTES:
            for mapped in (a for per_source in arrays["values"].values() for a in per_source):
                mapped.release()
            self._bytes_read = 0
        return Batch(
            inputs=inputs,
            lengths=lengths,
            present=torch.from_numpy(present),
            labels=torch.from_numpy(arrays["labels"][index].astype(np.float32)),
            ids=[arrays["ids"][i] for i in index],
            tokens=tokens,
            index=torch.from_numpy(index),
        )

    def __getitem__(self, index: int) -> Batch:
        return self.__getitems__([index])


def gather(arrays: list[MappedArray], index: np.ndarray, source: np.ndarray, steps: int) -> np.ndarray:
    """Row index[b] of arrays[source[b]], its first `steps` steps, for each b: (B, steps, ...), a copy."""
    if len(arrays) == 1:
        return arrays[0].array[index, :steps]
    first = arrays[0].array
    out = np.empty((len(index), min(steps, first.shape[1]), *first.shape[2:]), first.dtype)
    for k in np.unique(source):
        rows = source == k
        out[rows] = arrays[k].array[index[rows], :steps]
    return out


class TranscriptDraw(Sampler):
    """The clip indices of `sampler`, each with the transcript source it reads this epoch: (index, k),
    drawn uniformly among `count` sources from (seed, epoch) (transcripts.draw_sources)."""

    def __init__(self, sampler: Sampler, clips: int, count: int, seed: int):
        self.sampler, self.clips, self.count, self.seed, self.epoch = sampler, clips, count, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self):
        drawn = draw_sources(self.seed, self.epoch, self.clips, self.count)  # (N,)
        return ((i, int(drawn[i])) for i in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


def _as_is(batch: Batch) -> Batch:
    return batch


def make_loader(store_dir: str | Path, split: str, batch_size: int, *, shuffle: bool, seed: int = 0,
                distributed: bool = False, modalities: tuple[str, ...] | None = None, num_workers: int = 0,
                drop_last: bool = False, fixed_length: bool = False, transcripts: tuple[str, ...] = (DEFAULT,),
                hidden: bool = False) -> DataLoader:
    """Batches of one split. When shuffled, call `loader.sampler.set_epoch(epoch)` each epoch: the
    order is drawn from (seed, epoch), so runs repeat exactly. `fixed_length` keeps the store's
    lengths instead of trimming each batch to its longest clip. The text is read from `transcripts`:
    one source, or several with one drawn per clip and epoch. `hidden`: `Batch.tokens` holds the
    states below the tuned text layers (train.tune_text_layers)."""
    dataset = StoreDataset(store_dir, split, modalities, fixed_length, transcripts, hidden)
    if distributed:
        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)
    elif shuffle:
        # A one-replica DistributedSampler: the order is a function of (seed, epoch) alone, so a
        # resumed run and a run on N processes see the same batches as an uninterrupted single one.
        sampler = DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=seed)
    else:
        sampler = SequentialSampler(dataset)
    if len(dataset.transcripts) > 1:
        sampler = TranscriptDraw(sampler, len(dataset), len(dataset.transcripts), seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=drop_last,
        num_workers=num_workers,
        collate_fn=_as_is,
        persistent_workers=num_workers > 0,
    )
