"""The text encoder `transformers` (registry.TEXT): token-level hidden states of a transformers encoder, each token timed by its word.

The transcript's words are tokenized as pre-split words, so every sub-word token maps to the
word it came from and takes that word's start/end time. Special tokens ([CLS], [SEP]) are kept,
as in the MMSA/CMU BERT features, and span the whole utterance (first word start to last word end).
The input ids are kept beside the states (one per row), so the encoder can be fine-tuned later
on exactly the tokens these states came from; with `features.text.top_layers` k, so are the states
below the top k layers, so that tuning only those layers need not run the ones below each epoch.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from .clip import ModalityFeatures, Transcript
from .config import TextConfig
from .models import resolve_model

EXTRACTOR = "transformers"
CACHE_VERSION = 2  # in the cache key: entries written before token ids were kept are recomputed


@lru_cache(maxsize=2)
def text_encoder(name: str):
    """(tokenizer, model) loaded once per process, in eval mode."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()  # a per-clip "Loading weights" bar would drown the stage's own bar
    folder = resolve_model(name, "features.text.model")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if not tokenizer.is_fast:
        raise ValueError(f"features.text.model: {name!r} has no fast tokenizer (tokenizer.json), needed to map tokens to words")
    return tokenizer, AutoModel.from_pretrained(folder).eval()


def text_features(transcript: Transcript, settings: TextConfig) -> ModalityFeatures:
    tokenizer, model = text_encoder(settings.model)
    words = transcript.words
    dim = model.config.hidden_size
    if not words:
        return ModalityFeatures(np.zeros((0, dim), np.float32), np.zeros((0, 2), np.float32), EXTRACTOR, settings.model,
                                _settings(settings), tokens=np.zeros(0, np.int64),
                                hidden=np.zeros((0, dim), np.float32) if settings.top_layers else None)
    # A longer max_length than the model's position table would fail inside the model: cap it.
    limit = min(settings.max_length, getattr(model.config, "max_position_embeddings", settings.max_length))
    encoded = tokenizer([w.word for w in words], is_split_into_words=True, truncation=True, max_length=limit, return_tensors="pt")
    layers = model.config.num_hidden_layers
    if settings.top_layers > layers:
        raise ValueError(f"features.text.top_layers: {settings.top_layers} is more than the {layers} layers of {settings.model}")
    with torch.inference_mode():
        out = model(**encoded, output_hidden_states=settings.top_layers > 0)
    states = out.last_hidden_state[0].numpy()  # (T, d)
    # hidden_states[i] is the input of layer i (0: the embeddings): the top k layers read hidden_states[L - k].
    hidden = out.hidden_states[layers - settings.top_layers][0].numpy().astype(np.float32) if settings.top_layers else None  # (T, d)
    whole = (words[0].start, words[-1].end)
    times = np.array(
        [whole if i is None else (words[i].start, words[i].end) for i in encoded.word_ids(0)], np.float32
    )  # (T, 2)
    tokens = encoded["input_ids"][0].numpy().astype(np.int64)  # (T,)
    return ModalityFeatures(states.astype(np.float32), times, EXTRACTOR, settings.model, _settings(settings), tokens=tokens, hidden=hidden)


def text_width(settings: TextConfig) -> int:
    """The encoder's width, read from its config (no weights are loaded)."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(resolve_model(settings.model, "features.text.model")).hidden_size


def _settings(settings: TextConfig) -> dict:
    tuned = {"top_layers": settings.top_layers} if settings.top_layers else {}  # absent at 0: older stores stay equal
    return {"max_length": settings.max_length, "layer": "last_hidden_state", "special_tokens": True, **tuned}
