"""Several transcripts per clip: label.csv `text_<source>` columns through features, store, loader,
train (`train.transcripts`) and evaluate (`evaluate.transcript`); word error rate; the MOSI ASR builder.

A text-only dataset with a gold `text` and a noisier `text_asr` (one clip's ASR transcript empty)
goes through the real stages with a tiny random BERT.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pipeline.data.loader import make_loader
from pipeline.data.store import read_manifest
from pipeline.transcripts import draw_sources, transcript_sources, word_error_rate
from pipeline.features.clip import load_clip
from scripts.mosi_asr import build_dataset, corpus_wer

from .cli_support import pipeline
from .features_support import MOSI_CSV, tiny_bert

ASR_CSV = MOSI_CSV.with_name("mosi_asr_train_valid.csv")
GOLD = ["i loved this movie", "it was really bad", "the acting was good", "i hated it", "really good",
        "bad movie", "it was really good , i loved this movie anyhow", "i hated this acting"]
ASR = ["i loved the movie", "it was really", "acting was good good", "", "really good",
       "bad moving", "it was good i loved this", "hated this acting"]
LABELS = [2.0, -2.0, 1.0, -2.6, 1.6, -1.2, 2.4, -2.0]


def write_label_csv(folder: Path, with_asr: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "label.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video_id", "clip_id", "text", *(["text_asr"] if with_asr else []), "label", "mode"])
        for i in range(24):
            writer.writerow(["vid", i, GOLD[i % 8], *([ASR[i % 8]] if with_asr else []), LABELS[i % 8], "train" if i < 16 else "valid"])


def project(root: Path, bert: Path, with_asr: bool, text: dict | None = None, **train) -> Path:
    """A text-only project at `root`: label.csv, params.yaml (features.text and train extended by `text`, `train`),
    its features and store built."""
    write_label_csv(root / "raw", with_asr)
    params = {
        "data": {"path": str(root / "raw"), "modalities": ["t"]},
        "transcribe": {"backend": "given"},
        "features": {"text": {"model": str(bert), **(text or {})}},
        "tensors": {"max_len": {"t": 12}},
        "model": {"hidden": 16, "layers": 1, "heads": 2, "factor_layers": 1},
        "train": {"seeds": [5], "epochs": 2, "batch_size": 4, "device": "cpu", **train},
        "evaluate": {"splits": ["valid"]},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("features", "tensors"):
        result = pipeline(stage, "--params", "params.yaml", cwd=root)
        assert result.returncode == 0, result.stderr
    return root


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory) -> tuple[Path, Path]:
    """(the dataset with text_asr, the same without it), features and stores built."""
    root = tmp_path_factory.mktemp("transcripts")
    bert = tiny_bert(root / "bert")
    return project(root / "asr", bert, True), project(root / "gold", bert, False)


def test_word_error_rate_counts_substitutions_deletions_and_insertions():
    assert word_error_rate("and i loved it", "anne i love it") == 0.5  # two substitutions
    assert word_error_rate("a b c", "a c") == pytest.approx(1 / 3)  # a deletion
    assert word_error_rate("a b", "a x b y") == 1.0  # two insertions
    assert word_error_rate("The Movie", "the movie") == 0.0  # case does not count
    assert word_error_rate("a b c d", "") == 1.0 and word_error_rate("", "") == 0.0 and word_error_rate("", "a") == 1.0


def test_transcript_columns_name_their_sources(tmp_path):
    assert transcript_sources(["video_id", "text", "text_ibm", "label", "text_speech_brain2"], "x") == ("ibm", "speech_brain2")
    with pytest.raises(ValueError, match=r"^label.csv: column\(s\) \['text_IBM'\]: a transcript source is lower-case"):
        transcript_sources(["text", "text_IBM"], "label.csv")


def test_the_builder_writes_a_dataset_with_four_transcripts_and_each_clips_wer(tmp_path):
    rows = [["v1", "1", "train", "1.5", "and i loved it", "and i loved it", "anne i love it", "and i loved"],
            ["v1", "2", "valid", "-2", "it was bad", "", "it was bad", "it is bad"]]
    table = tmp_path / "asr.csv"
    with open(table, "w", newline="") as handle:
        csv.writer(handle).writerows([["video_id", "clip_id", "mode", "label", "gold", "ibm", "speechbrain", "iflytek"], *rows])
    folder = build_dataset(table, tmp_path / "dataset")
    with open(folder / "label.csv", newline="") as handle:
        labels = list(csv.DictReader(handle))
    assert list(labels[0]) == ["video_id", "clip_id", "text", "text_ibm", "text_speechbrain", "text_iflytek", "label", "mode"]
    assert [labels[1][c] for c in ("text", "text_ibm", "text_iflytek", "label", "mode")] == ["it was bad", "", "it is bad", "-2", "valid"]
    with open(folder / "wer.csv", newline="") as handle:
        errors = list(csv.DictReader(handle))
    assert [(e["gold_words"], e["wer_ibm"], e["wer_speechbrain"], e["wer_iflytek"]) for e in errors] == [
        ("4", "0.0000", "0.5000", "0.2500"), ("3", "1.0000", "0.0000", "0.3333")]
    assert corpus_wer(folder) == {"train": {"ibm": 0.0, "speechbrain": 0.5, "iflytek": 0.25},
                                  "valid": {"ibm": 1.0, "speechbrain": 0.0, "iflytek": 0.333}}
    broken = tmp_path / "broken.csv"
    broken.write_text("video_id,clip_id,mode,label,gold,ibm\nv1,1,train,1,a,a\n")
    with pytest.raises(ValueError, match=rf"^{broken}: missing column\(s\) \['speechbrain', 'iflytek'\]"):
        build_dataset(broken, tmp_path / "other")


@pytest.mark.skipif(not ASR_CSV.is_file(), reason=f"the MOSI ASR table is absent ({ASR_CSV})")
def test_the_builder_on_the_mosi_asr_table(tmp_path):
    folder = build_dataset(ASR_CSV, tmp_path)
    with open(folder / "label.csv", newline="") as handle:
        modes = [row["mode"] for row in csv.DictReader(handle)]
    assert (modes.count("train"), modes.count("valid")) == (1284, 229)
    overall = corpus_wer(folder)["train"]  # the issue quotes about .30, .35, .24 over all segments
    assert 0.27 < overall["ibm"] < 0.33 and 0.32 < overall["speechbrain"] < 0.42 and 0.21 < overall["iflytek"] < 0.27


def test_the_store_keeps_each_transcript_and_the_default_stays_as_it_was(workspaces):
    asr, gold = workspaces
    manifest = read_manifest(asr / "data" / "store")
    assert manifest.transcripts == ("asr",) and read_manifest(gold / "data" / "store").transcripts == ()
    for name in ("t.npy", "t_lengths.npy", "t_tokens.npy", "present.npy"):
        assert (asr / "data" / "store" / "valid" / name).read_bytes() == (gold / "data" / "store" / "valid" / name).read_bytes()
    assert manifest.norm == read_manifest(gold / "data" / "store").norm  # statistics of the default text only
    with_column = next(iter(make_loader(asr / "data" / "store", "valid", 8, shuffle=False)))
    without = next(iter(make_loader(gold / "data" / "store", "valid", 8, shuffle=False)))
    torch.testing.assert_close(with_column.inputs["t"], without.inputs["t"], rtol=0, atol=0)

    read = next(iter(make_loader(asr / "data" / "store", "valid", 8, shuffle=False, transcripts=("asr",))))
    mean, std = (np.asarray(v, np.float32) for v in (manifest.norm["t"].mean, manifest.norm["t"].std))
    for row, clip in enumerate(read.ids):
        features = load_clip(asr / "data" / "features" / clip).modalities["t@asr"]
        n = int(read.lengths["t"][row])
        assert n == min(len(features.values), 12) and bool(read.present[row, 0]) == (n > 0)
        np.testing.assert_allclose(read.inputs["t"][row, :n].numpy(), (features.values[:n] - mean) / std, rtol=0, atol=1e-5)
        np.testing.assert_array_equal(read.tokens[row, :n].numpy(), features.tokens[:n])
    assert read.ids[3] == "vid/19" and not read.present[3, 0]  # its ASR transcript is empty: text missing


def test_training_draws_one_transcript_per_clip_and_epoch(workspaces):
    store = workspaces[0] / "data" / "store"
    single = {s: next(iter(make_loader(store, "train", 16, shuffle=False, transcripts=(s,)))) for s in ("text", "asr")}

    def epoch(seed: int, number: int) -> dict[str, str]:
        loader = make_loader(store, "train", 5, shuffle=True, seed=seed, transcripts=("text", "asr"))
        loader.sampler.set_epoch(number)
        read = {}
        for batch in loader:
            for row, clip in enumerate(batch.ids):
                i = int(clip.split("/")[1])
                n = int(batch.lengths["t"][row])
                same = {s: n == int(b.lengths["t"][i]) and torch.equal(batch.inputs["t"][row, :n], b.inputs["t"][i, :n])
                        for s, b in single.items()}
                read[clip] = "text" if same["text"] else "asr" if same["asr"] else "neither"
        return read

    first = epoch(3, 0)
    assert len(first) == 16 and set(first.values()) == {"text", "asr"}
    expected = draw_sources(3, 0, 16, 2)
    identical = {f"vid/{i}" for i in range(16) if GOLD[i % 8] == ASR[i % 8]}  # "really good": both sources read alike
    assert all(first[c] == ("text", "asr")[expected[int(c.split("/")[1])]] for c in first if c not in identical)
    assert epoch(3, 0) == first and epoch(3, 1) != first


def test_train_on_several_transcripts_and_evaluate_on_one(workspaces):
    root = workspaces[0]
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train"]["transcripts"] = ["text", "asr"]
    params["evaluate"]["transcript"] = "asr"
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("train", "evaluate"):
        result = pipeline(stage, "--params", "params.yaml", cwd=root)
        assert result.returncode == 0, result.stderr
    scored = json.loads((root / "metrics_seeds.json").read_text())["valid"]
    with open(root / "plots" / "predictions" / "valid.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 8
    params["evaluate"]["transcript"] = "text"
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    assert pipeline("evaluate", "--params", "params.yaml", cwd=root).returncode == 0
    assert json.loads((root / "metrics_seeds.json").read_text())["valid"]["mae"] != scored["mae"]  # other text, other scores

    params["evaluate"]["transcript"] = "ibm"
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    result = pipeline("evaluate", "--params", "params.yaml", cwd=root)
    assert result.returncode != 0 and "evaluate.transcript: ['ibm'] not among the transcripts of the store" in result.stderr
    params["train"]["transcripts"] = ["text", "whisper"]
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    result = pipeline("train", "--params", "params.yaml", cwd=root)
    assert result.returncode != 0
    assert "train.transcripts: ['whisper'] not among the transcripts of the store" in result.stderr
