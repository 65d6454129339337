"""The tensor store and its loader, on generated clips written through the real build."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

from pipeline.data.build import truncate, write_store
from pipeline.data.config import DataConfig, TensorConfig
from pipeline.data.loader import make_loader
from pipeline.data.store import MappedArray, RowWriter, read_manifest
from pipeline.data.synthetic import synthetic_source

SIZES = {"train": 40, "valid": 12, "test": 9}
STEPS = {"t": 9, "a": 30, "v": 20}
DIMS = {"t": 12, "a": 5, "v": 7}
MAX_LEN = {"t": 8, "a": 40, "v": 12}  # t and v truncate, a does not


@pytest.fixture
def source():
    return synthetic_source(SIZES, STEPS, DIMS, seed=7)


@pytest.fixture
def store(tmp_path, source):
    out = tmp_path / "store"
    write_store(source, DataConfig(path="generated"), TensorConfig(max_len=MAX_LEN), out)
    return out


def raw_rows(source, index, m):
    """The (L, d) rows the store should keep for one clip: head-truncated to MAX_LEN."""
    return source.load(index)[m][: MAX_LEN[m]]


def test_store_files_hold_the_padded_rows_lengths_labels_and_ids(store, source):
    manifest = read_manifest(store)
    assert manifest.splits == SIZES
    assert manifest.max_lengths == {"t": 8, "a": 30, "v": 12}  # a: the longest clip, under max_len
    train = [i for i, e in enumerate(source.entries) if e.split == "train"]
    for m in "tav":
        values = np.load(store / "train" / f"{m}.npy")  # np.load reads what RowWriter wrote
        lengths = np.load(store / "train" / f"{m}_lengths.npy")
        assert values.shape == (40, manifest.max_lengths[m], DIMS[m])
        for row, index in enumerate(train[:5]):
            expected = raw_rows(source, index, m)
            assert lengths[row] == len(expected)
            np.testing.assert_array_equal(values[row, : len(expected)], expected)
            assert not values[row, len(expected):].any()
    assert json.loads((store / "train" / "ids.json").read_text()) == [source.entries[i].id for i in train]
    np.testing.assert_allclose(np.load(store / "train" / "labels.npy"), [source.entries[i].label for i in train], rtol=1e-6)
    assert np.load(store / "train" / "present.npy").all()


def test_loader_normalizes_every_split_with_train_statistics(store, source):
    train = [i for i, e in enumerate(source.entries) if e.split == "train"]
    raw = np.concatenate([raw_rows(source, i, "a") for i in train])  # (sum L, d)
    mean, std = raw.mean(axis=0), raw.std(axis=0)
    manifest = read_manifest(store)
    np.testing.assert_allclose(manifest.norm["a"].mean, mean, rtol=1e-4, atol=1e-5)

    batch = next(iter(make_loader(store, "valid", 4, shuffle=False)))
    valid = [i for i, e in enumerate(source.entries) if e.split == "valid"]
    first = raw_rows(source, valid[0], "a")
    np.testing.assert_allclose(batch.inputs["a"][0, : len(first)].numpy(), (first - mean) / std, rtol=1e-4, atol=1e-4)
    assert not batch.inputs["a"][0, len(first):].any()  # padding stays 0 after normalization


def test_batches_are_trimmed_to_their_longest_sequence(store):
    for batch in make_loader(store, "train", 5, shuffle=True, seed=1):
        for m in "tav":
            assert batch.inputs[m].shape[1] == int(batch.lengths[m].max())
            assert batch.inputs[m].dtype == torch.float32 and batch.lengths[m].dtype == torch.long
        assert batch.labels.shape == (len(batch),) and len(batch.ids) == len(batch)


def test_shuffle_repeats_with_its_seed_and_covers_every_clip_once(store):
    def order(seed):
        return [i for b in make_loader(store, "train", 8, shuffle=True, seed=seed) for i in b.ids]

    first, again, other = order(3), order(3), order(4)
    assert first == again and first != other
    assert sorted(first) == sorted(json.loads((store / "train" / "ids.json").read_text()))
    loader = make_loader(store, "train", 8, shuffle=True, seed=3)

    def epoch_order(epoch):
        loader.sampler.set_epoch(epoch)
        return [i for b in loader for i in b.ids]

    # A new order each epoch, drawn from (seed, epoch) alone: a resumed run sees the same one.
    assert epoch_order(0) == first and epoch_order(1) != first and epoch_order(1) == epoch_order(1)


def test_a_modality_subset_keeps_store_order_in_present(store):
    batch = next(iter(make_loader(store, "test", 9, shuffle=False, modalities=("v", "t"))))
    assert set(batch.inputs) == {"t", "v"} and batch.present.shape == (9, 2)
    with pytest.raises(ValueError, match=r"modalities \['x'\] not in the store"):
        make_loader(store, "test", 9, shuffle=False, modalities=("x",))
    with pytest.raises(ValueError, match="no split 'dev'"):
        make_loader(store, "dev", 9, shuffle=False)


def test_workers_deliver_the_same_batches(store):
    plain = [b.ids for b in make_loader(store, "train", 7, shuffle=True, seed=5)]
    workers = [b.ids for b in make_loader(store, "train", 7, shuffle=True, seed=5, num_workers=2)]
    assert plain == workers


def test_distributed_loader_uses_a_distributed_sampler(store, tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        loader = make_loader(store, "train", 8, shuffle=True, seed=2, distributed=True)
        assert isinstance(loader.sampler, DistributedSampler)
        loader.sampler.set_epoch(0)
        epoch0 = [i for b in loader for i in b.ids]
        loader.sampler.set_epoch(1)
        epoch1 = [i for b in loader for i in b.ids]
        assert sorted(epoch0) == sorted(epoch1) and epoch0 != epoch1 and len(epoch0) == 40
    finally:
        dist.destroy_process_group()


def test_float16_store_loads_as_float32(tmp_path, source):
    out = tmp_path / "half"
    write_store(source, DataConfig(path="generated"), TensorConfig(max_len=MAX_LEN, dtype="float16", normalize=()), out)
    assert np.load(out / "train" / "t.npy", mmap_mode="r").dtype == np.float16
    batch = next(iter(make_loader(out, "train", 4, shuffle=False)))
    first = raw_rows(source, 0, "t")
    assert batch.inputs["t"].dtype == torch.float32
    np.testing.assert_allclose(batch.inputs["t"][0, : len(first)].numpy(), first, atol=2e-3, rtol=1e-3)


def test_float16_refuses_values_it_would_turn_into_inf(tmp_path, source):
    load = source.load
    source.load = lambda index: {m: x * (1e5 if index == 3 else 1) for m, x in load(index).items()}
    with pytest.raises(ValueError, match=r"synthetic clip 3: modality t has values beyond the float16 range"):
        write_store(source, DataConfig(path="generated"), TensorConfig(max_len=MAX_LEN, dtype="float16"), tmp_path / "half")
    write_store(source, DataConfig(path="generated"), TensorConfig(max_len=MAX_LEN), tmp_path / "full")


def test_a_failed_build_leaves_the_previous_store_in_place(store, source):
    before = read_manifest(store)
    load = source.load
    source.load = lambda index: {m: x[:, :-1] if index == 30 else x for m, x in load(index).items()}  # a width wrong mid-build
    with pytest.raises(ValueError, match=r"synthetic clip 30: modality t has shape \(\d+, 11\), expected \(\d+, 12\)"):
        write_store(source, DataConfig(path="generated"), TensorConfig(max_len={"t": 2, "a": 3, "v": 4}), store)
    assert read_manifest(store) == before and np.load(store / "train" / "a.npy").shape[1] == 30
    assert [p.name for p in store.parent.iterdir()] == ["store"]  # no temporary folder left behind


def test_truncation_policies():
    x = np.arange(10, dtype=np.float32)[:, None]  # (10, 1)
    assert truncate(x, 4, "head")[:, 0].tolist() == [0, 1, 2, 3]
    assert truncate(x, 4, "tail")[:, 0].tolist() == [6, 7, 8, 9]
    assert truncate(x, 4, "uniform")[:, 0].tolist() == [0, 3, 6, 9]
    assert truncate(x, 20, "uniform") is x


def test_release_drops_the_pages_an_epoch_touched(tmp_path):
    writer = RowWriter(tmp_path / "big.npy", (1024,), "float32")
    for i in range(8192):  # 32 MiB
        writer.append(np.full(1024, i, np.float32))
    writer.close()
    mapped = MappedArray(tmp_path / "big.npy")
    assert float(mapped.array.sum(dtype=np.float64)) == 1024 * 8191 * 8192 / 2
    touched = rss_file_kib()
    mapped.release()
    assert touched - rss_file_kib() > 24 * 1024  # most of the 32 MiB left this process's resident set
    assert mapped.array[8191, 0] == 8191  # and reads on, from the page cache


def rss_file_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssFile:"))


def test_manifest_errors_are_one_line(tmp_path, store):
    with pytest.raises(ValueError, match="manifest.json: not found"):
        read_manifest(tmp_path)
    (store / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="unreadable manifest"):
        read_manifest(store)


def test_manifest_round_trips(store):
    manifest = read_manifest(store)
    assert manifest.modalities == ("t", "a", "v") and manifest.dims == DIMS
    assert manifest.dataset == "mosi" and manifest.label_range == (-3.0, 3.0)
    assert dataclasses.asdict(read_manifest(store)) == dataclasses.asdict(manifest)
