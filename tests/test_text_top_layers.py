"""Tuning only the text encoder's top k layers (`features.text.top_layers` k, `train.tune_text_layers` k).

Tiny random encoders built from a config (no download): the top k layers run on the states below
them give the encoder's own output, for BERT (MiniLM's architecture) and MPNet, every k. Through
the real stages on a text-only dataset: the features keep those states, the loader hands them to
the model, at step 0 the tuned path gives exactly the frozen features, and training moves the top
layers only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.checkpoint import load_checkpoint, model_from_checkpoint
from pipeline.data.loader import make_loader
from pipeline.data.store import read_manifest
from pipeline.features.clip import load_clip
from pipeline.model import TextBackbone
from pipeline.model.text_backbone import run_top_layers

from .cli_support import pipeline
from .features_support import tiny_bert
from .test_transcripts import project

SEED = 5


def tiny_encoder(kind: str):
    from transformers import BertConfig, BertModel, MPNetConfig, MPNetModel

    torch.manual_seed(0)
    shape = dict(vocab_size=50, hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64)
    model = BertModel(BertConfig(**shape)) if kind == "bert" else MPNetModel(MPNetConfig(**shape))
    return model.eval()


@pytest.mark.parametrize("kind", ["bert", "mpnet"])
def test_top_layers_on_the_states_below_give_the_encoders_output(kind):
    encoder = tiny_encoder(kind)
    ids = torch.randint(5, 50, (3, 9))  # (B, T)
    valid = torch.arange(9)[None, :] < torch.tensor([9, 6, 2])[:, None]  # (B, T): padded rows
    with torch.no_grad():
        out = encoder(input_ids=ids, attention_mask=valid.long(), output_hidden_states=True)
        for k in (1, 2, 3):  # 3: every layer, from the embeddings' output
            below = out.hidden_states[3 - k]
            top = run_top_layers(encoder, below, valid, k)
            torch.testing.assert_close(top[valid], out.last_hidden_state[valid], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="train.tune_text_layers: 4 is not between 1 and the encoder's 3 layers"):
        run_top_layers(encoder, below, valid, 4)


def test_only_the_top_layers_learn():
    backbone = TextBackbone(tiny_encoder("bert"), top=1)
    learning = {name for name, p in backbone.named_parameters() if p.requires_grad}
    assert learning and all(name.startswith("encoder.encoder.layer.2.") for name in learning)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """The transcripts test's dataset, its features keeping the states below the top layer, trained 2 epochs tuning it."""
    root = tmp_path_factory.mktemp("top_layers")
    return project(root, tiny_bert(root / "bert"), True, {"top_layers": 1}, tune_text_layers=1, text_lr=1e-2,
                   transcripts=["text", "asr"], seeds=[SEED])


def test_features_keep_the_states_below_the_top_layers(workspace):
    clip = load_clip(workspace / "data" / "features" / "vid" / "6").modalities
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(workspace / "bert").eval()
    encoded = AutoTokenizer.from_pretrained(workspace / "bert")("it was really good , i loved this movie anyhow".split(),
                                                               is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        below = model(**encoded, output_hidden_states=True).hidden_states[1][0].numpy()  # the input of layer 2 of 2
    np.testing.assert_allclose(clip["t"].hidden, below, atol=1e-5, rtol=0)
    assert clip["t@asr"].hidden.shape == clip["t@asr"].values.shape
    assert read_manifest(workspace / "data" / "store").text_hidden == 1


def test_step_zero_gives_the_frozen_features(workspace):
    store = workspace / "data" / "store"
    norm = read_manifest(store).norm["t"]
    backbone = TextBackbone.pretrained(str(workspace / "bert"), norm.mean, norm.std, top=1).eval()
    for source in ("text", "asr"):
        batch = next(iter(make_loader(store, "train", 16, shuffle=False, hidden=True, transcripts=(source,))))
        assert batch.tokens.dtype == torch.float32 and batch.tokens.shape == batch.inputs["t"].shape
        whole = [len(load_clip(workspace / "data" / "features" / c).modalities["t"].values) <= 12 for c in batch.ids]
        with torch.no_grad():
            computed = backbone(batch.tokens, batch.lengths["t"])  # (B, T, d)
        kept = torch.tensor(whole) & batch.present[:, 0]
        assert kept.sum() >= 10
        torch.testing.assert_close(computed[kept], batch.inputs["t"][kept], atol=1e-5, rtol=0)


def test_training_moves_the_top_layer_only_and_the_checkpoint_scores_from_ids(workspace):
    for stage in ("train", "evaluate"):
        result = pipeline(stage, "--params", "params.yaml", cwd=workspace)
        assert result.returncode == 0, result.stderr
    model = model_from_checkpoint(load_checkpoint(workspace / "models" / f"seed_{SEED}.pt")).eval()
    assert model.text_backbone.top == 1
    before = dict(TextBackbone.pretrained(str(workspace / "bert"), None, None).encoder.named_parameters())
    moved = {name for name, p in model.text_backbone.encoder.named_parameters() if not torch.equal(p, before[name])}
    assert moved and all(name.startswith("encoder.layer.1.") for name in moved)
    # Given input ids (as `pipeline predict` gives them), the whole encoder runs: the same states.
    batch = next(iter(make_loader(workspace / "data" / "store", "valid", 8, shuffle=False, hidden=True)))
    ids = next(iter(make_loader(workspace / "data" / "store", "valid", 8, shuffle=False)))
    with torch.no_grad():
        from_states = model(batch.inputs, batch.lengths, batch.present, tokens=batch.tokens).prediction
        from_ids = model(ids.inputs, ids.lengths, ids.present, tokens=ids.tokens).prediction
    torch.testing.assert_close(from_states, from_ids, atol=1e-4, rtol=0)


def test_a_store_without_those_states_is_a_one_line_error(tmp_path):
    project(tmp_path, tiny_bert(tmp_path / "bert"), False, tune_text_layers=1)
    result = pipeline("train", "--params", "params.yaml", cwd=tmp_path)
    assert result.returncode != 0
    assert ("train.tune_text_layers: 1, but the store data/store holds the text states below the top 0 layers; "
            "set features.text.top_layers: 1") in result.stderr
