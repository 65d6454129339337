"""Text features: token-level hidden states with each token timed by its word (tiny BERT; real MiniLM, slow)."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.features.clip import Transcript, Word
from pipeline.features.config import TextConfig
from pipeline.features.text import text_features, text_width

from .features_support import tiny_bert

WORDS = [Word("anyhow,", 0.0, 0.6), Word("it", 1.0, 1.2), Word("was", 1.2, 1.5), Word("really", 1.5, 2.0), Word("goods", 2.0, 3.0)]


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    return tiny_bert(tmp_path_factory.mktemp("bert"))


def test_tokens_take_their_words_times(bert_dir):
    features = text_features(Transcript("anyhow, it was really goods", "en", WORDS), TextConfig(model=str(bert_dir)))
    # [CLS] anyhow , it was really good ##s [SEP]
    assert features.values.shape == (9, 32) and features.values.dtype == np.float32
    assert np.isfinite(features.values).all()
    times = features.times.tolist()
    assert times[0] == times[-1] == [0.0, 3.0]  # special tokens span the utterance
    assert times[1] == times[2] == [0.0, pytest.approx(0.6)]  # "anyhow" and "," are one word
    assert times[6] == times[7] == [2.0, 3.0]  # "good" "##s"
    assert features.extractor == "transformers" and features.settings["max_length"] == 128


def test_max_length_truncates(bert_dir):
    features = text_features(Transcript("", "en", WORDS * 10), TextConfig(model=str(bert_dir), max_length=12))
    assert len(features.values) == 12


def test_empty_transcript_is_zero_rows(bert_dir):
    features = text_features(Transcript("", "en", []), TextConfig(model=str(bert_dir)))
    assert features.values.shape == (0, 32) and not features.present


@pytest.mark.slow
def test_packaged_minilm_gives_384_d_states():
    features = text_features(Transcript("anyhow it was really good", "en", WORDS), TextConfig())
    assert features.values.shape == (9, 384) and features.dim == 384
    assert features.values.std() > 0.1


@pytest.mark.slow
def test_packaged_mpnet_gives_768_d_states():
    """all-mpnet-base-v2 from its five split-zip wheels (requirements-nodeps.txt), offline."""
    settings = TextConfig(model="all-mpnet-base-v2")
    features = text_features(Transcript("anyhow it was really good", "en", WORDS), settings)
    assert features.values.shape[1] == 768 and text_width(settings) == 768
    assert len(features.values) == len(features.tokens) >= 7 and features.values.std() > 0.05
