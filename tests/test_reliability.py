"""The reliability benchmark: seeded, its rates respected, a clean modality always kept, and an
oracle that differs from the data only in marking the unreliable modalities missing."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from pipeline.data.build import write_store
from pipeline.data.config import DataConfig, TensorConfig
from pipeline.data.synthetic import STATUSES, STEPS, Rates, directions, reliability_source
from scripts.reliability import reference_detection

SIZES = {"train": 600, "valid": 100, "test": 100}
STRESS = Rates(noisy=0.2, conflicting=0.2, missing=0.1)


def test_statuses_follow_the_rates_and_keep_one_clean_modality():
    source, statuses = reliability_source(SIZES, {"train": STRESS}, seed=3)
    train = [s for clip, s in statuses.items() if clip.startswith("train")]
    counts = Counter(v for s in train for v in s.values())
    total = sum(counts.values())
    assert 0.15 < counts["noisy"] / total < 0.25 and 0.15 < counts["conflicting"] / total < 0.25
    assert all("clean" in s.values() for s in statuses.values())
    assert {v for clip, s in statuses.items() if not clip.startswith("train") for v in s.values()} == {"clean"}
    for entry in source.entries:  # only a missing modality has no frames
        assert all((n == 0) == (statuses[entry.id][m] == "missing") for m, n in entry.lengths.items())


def test_same_seed_same_set_and_the_oracle_only_hides_the_unreliable():
    rates = {"train": STRESS, "test": STRESS}
    first, statuses = reliability_source(SIZES, rates, seed=5)
    again, _ = reliability_source(SIZES, rates, seed=5)
    oracle, oracle_statuses = reliability_source(SIZES, rates, seed=5, oracle=True)
    assert oracle_statuses == statuses
    for i in range(0, len(first.entries), 37):
        status = statuses[first.entries[i].id]
        frames, oracle_frames = first.load(i), oracle.load(i)
        for m, x in frames.items():
            np.testing.assert_array_equal(x, again.load(i)[m])
            if status[m] == "clean":
                np.testing.assert_array_equal(oracle_frames[m], x)
            else:
                assert oracle.entries[i].lengths[m] == 0


def test_the_unreliable_modalities_cost_a_model_that_listens_to_all():
    """Each view read off its direction: averaging every present view is much worse than averaging
    the clean ones, so finding a clip's unreliable modalities pays."""
    source, statuses = reliability_source({"test": 400}, {"test": STRESS}, seed=1)
    toward = directions(1)
    errors = {"all": [], "clean": []}
    for i, entry in enumerate(source.entries):
        views = {m: x.mean(0) @ toward[m] for m, x in source.load(i).items() if len(x)}
        clean = [m for m in views if statuses[entry.id][m] == "clean"]
        for name, kept in (("all", list(views)), ("clean", clean)):
            errors[name].append(abs(np.clip(1.5 * np.mean([views[m] for m in kept]), -3, 3) - entry.label))
    assert np.mean(errors["clean"]) < 0.6 * np.mean(errors["all"]), {k: np.mean(v) for k, v in errors.items()}


def test_rates_that_do_not_make_a_distribution_are_refused():
    with pytest.raises(ValueError, match="reliability rates"):
        Rates(noisy=0.6, conflicting=0.6)
    assert STATUSES[0] == "clean"


def test_a_detector_that_knows_the_recipe_finds_every_noisy_modality_but_few_conflicts(tmp_path):
    """The benchmark's ceiling (scripts/reliability.py `reference_detection`): loud frames give every
    noisy modality away; a conflicting one is found only where a third modality breaks the tie, so
    its AUC stays far below 1 even for a detector that knows the directions."""
    source, statuses = reliability_source({"train": 100, "valid": 20, "test": 300}, {"test": STRESS}, seed=0)
    write_store(source, DataConfig(path="reliability test", dataset="mosi"), TensorConfig(out=str(tmp_path), max_len=dict(STEPS)), tmp_path)
    (tmp_path / "statuses.json").write_text(json.dumps(statuses))
    found = reference_detection(tmp_path, "test", seed=0)
    assert found["−w: noisy"][0] == 1.0
    assert 0.55 < found["−w: conflicting"][0] < 0.75, found
