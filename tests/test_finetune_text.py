"""Fine-tuning the text encoder with DSRF (`train.finetune_text`), through the real stages.

A text-only dataset with given transcripts and a tiny random BERT goes through features →
tensors → train (fine-tuned) → evaluate. Checked: the store keeps each text row's input id; at
step 0 the model's own encoder gives exactly the features the store holds; the checkpoint
rebuilds the fine-tuned encoder offline and scores like evaluate and predict do; a store without
token ids is a one-line error.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pipeline.checkpoint import load_checkpoint, model_from_checkpoint
from pipeline.data.build import write_store
from pipeline.data.config import DataConfig, TensorConfig
from pipeline.data.loader import make_loader
from pipeline.data.store import read_manifest
from pipeline.data.synthetic import synthetic_source
from pipeline.distributed import Context
from pipeline.features.clip import load_clip
from pipeline.inference import predict
from pipeline.model import TextBackbone
from pipeline.predict import TrainedModel, explain
from pipeline.robustness import predict_perturbed

from .cli_support import pipeline
from .features_support import tiny_bert

MAX_LEN = 8
TEXTS = ["i loved this movie", "it was really bad", "the acting was good", "i hated it", "really good",
         "bad movie", "it was really good , i loved this movie anyhow", "i hated this acting"]
LABELS = [2.0, -2.0, 1.0, -2.6, 1.6, -1.2, 2.4, -2.0]
SEED = 5


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """24 text-only clips (16 train, 8 valid), fine-tuned for 2 epochs at a high text lr."""
    root = tmp_path_factory.mktemp("finetune")
    raw = root / "raw"
    raw.mkdir()
    rows = ["video_id,clip_id,text,label,mode"]
    for i in range(24):
        rows.append(f"vid,{i},\"{TEXTS[i % 8]}\",{LABELS[i % 8]},{'train' if i < 16 else 'valid'}")
    (raw / "label.csv").write_text("\n".join(rows) + "\n")
    params = {
        "data": {"path": str(raw), "modalities": ["t"]},
        "transcribe": {"backend": "given"},
        "features": {"text": {"model": str(tiny_bert(root / "bert"))}},
        "tensors": {"max_len": {"t": MAX_LEN}},
        "model": {"hidden": 16, "layers": 1, "heads": 2, "factor_layers": 1},
        "train": {"seeds": [SEED], "epochs": 2, "batch_size": 4, "device": "cpu", "finetune_text": True, "text_lr": 1e-3},
        "evaluate": {"splits": ["valid"]},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("features", "tensors", "train", "evaluate"):
        result = pipeline(stage, "--params", "params.yaml", cwd=root)
        assert result.returncode == 0, result.stderr
    return root


def clip_tokens(workspace: Path, clip_id: str) -> np.ndarray:
    return load_clip(workspace / "data" / "features" / clip_id).modalities["t"].tokens


def test_step_zero_reproduces_the_stored_features(workspace):
    store = workspace / "data" / "store"
    manifest = read_manifest(store)
    assert manifest.text_tokens
    norm = manifest.norm["t"]
    backbone = TextBackbone.pretrained(str(workspace / "bert"), norm.mean, norm.std).eval()
    batch = next(iter(make_loader(store, "train", 16, shuffle=False)))
    with torch.no_grad():
        computed = backbone(batch.tokens, batch.lengths["t"])  # (B, T, d)
    whole = [len(clip_tokens(workspace, i)) <= MAX_LEN for i in batch.ids]
    assert 0 < sum(whole) < len(whole)  # both kinds of clip are in the batch
    for row, clip in enumerate(batch.ids):
        ids = clip_tokens(workspace, clip)
        np.testing.assert_array_equal(batch.tokens[row, : batch.lengths["t"][row]].numpy(), ids[:MAX_LEN])
        if whole[row]:
            torch.testing.assert_close(computed[row], batch.inputs["t"][row], atol=1e-5, rtol=0)
        else:
            # The features stage encoded the whole transcript; the model reads only the kept tokens.
            assert ids[MAX_LEN - 1] != 3 and not torch.allclose(computed[row], batch.inputs["t"][row], atol=1e-3)


def test_checkpoint_rebuilds_the_tuned_encoder_and_scores_as_evaluate(workspace):
    payload = load_checkpoint(workspace / "models" / f"seed_{SEED}.pt")
    assert payload["text_backbone"]["model_type"] == "bert" and payload["train_config"]["finetune_text"]
    model = model_from_checkpoint(payload)
    pretrained = TextBackbone.pretrained(str(workspace / "bert"), None, None)
    moved = max((a - b).abs().max().item() for a, b in zip(model.text_backbone.encoder.parameters(), pretrained.encoder.parameters()))
    assert moved > 1e-3  # the encoder was trained, not frozen

    loader = make_loader(workspace / "data" / "store", "valid", 3, shuffle=False)
    ours = predict(model, loader, Context(0, 1, torch.device("cpu")))
    with open(workspace / "plots" / "predictions" / "valid.csv") as handle:
        evaluated = {row["id"]: float(row["prediction"]) for row in csv.DictReader(handle)}
    np.testing.assert_allclose(ours.y_pred, [evaluated[i] for i in ours.ids], atol=1e-4)

    # predict's path: the clip's own features (tokens included), truncated as the store does.
    clip = "vid/17"
    trained = TrainedModel([model], payload["manifest"], payload["extraction"], Path("seed.pt"), [SEED])
    scored = explain(trained, load_clip(workspace / "data" / "features" / clip), clip, window=0)
    assert scored.score == pytest.approx(ours.y_pred[ours.ids.index(clip)], abs=1e-4)


@pytest.mark.parametrize("modalities, message", [
    (["t", "a"], "has no text token ids"),
    (["a", "v"], "data.modalities ['a', 'v'] has no text"),
])
def test_finetuning_without_token_ids_is_one_line(tmp_path, modalities, message):
    store = tmp_path / "store"
    source = synthetic_source({"train": 8, "valid": 4}, {"t": 6, "a": 10, "v": 8}, {"t": 8, "a": 4, "v": 5}, seed=3)
    write_store(source, DataConfig(path="generated"), TensorConfig(max_len={"t": 6, "a": 10, "v": 8}), store)
    params = {"data": {"modalities": modalities}, "model": {"hidden": 16, "layers": 1, "heads": 2, "factor_layers": 1},
              "train": {"seeds": [1], "epochs": 1, "batch_size": 4, "store": str(store), "out": str(tmp_path / "models"),
                        "state": str(tmp_path / "runs"), "device": "cpu", "finetune_text": True}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = pipeline("train", "--params", "params.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "train.finetune_text: " in result.stderr and message in result.stderr and "\n" not in result.stderr.strip()


def test_noise_on_text_features_is_refused_for_a_tuned_encoder(workspace):
    # The model reads token ids, so noise on the stored states would change nothing: say so.
    model = model_from_checkpoint(load_checkpoint(workspace / "models" / f"seed_{SEED}.pt"))
    loader = make_loader(workspace / "data" / "store", "valid", 4, shuffle=False)
    with pytest.raises(ValueError, match="encodes the text's token ids itself"):
        predict_perturbed(model, loader, "t", "noise", 0.5)
    labels, _ = predict_perturbed(model, loader, "t", "drop", 0.5)
    assert len(labels) == 8
