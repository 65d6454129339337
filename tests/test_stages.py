"""Stage commands given a feature file instead of raw clips: they step aside, leaving an empty output."""
from __future__ import annotations

import pytest
import yaml

from .cli_support import pipeline


@pytest.mark.parametrize("stage, out, verb", [("transcribe", "data/transcripts", "transcribe"), ("features", "data/features", "extract")])
def test_extraction_stages_step_aside_for_a_feature_file(tmp_path, stage, out, verb):
    (tmp_path / "unaligned_50.pkl").write_bytes(b"an MMSA pickle stands here")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"data": {"path": "unaligned_50.pkl"}}))
    result = pipeline(stage, "--params", "params.yaml", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"not a raw dataset; nothing to {verb}" in result.stdout
    assert (tmp_path / out).is_dir() and not any((tmp_path / out).iterdir())


def test_extraction_sections_may_not_name_the_dataset(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"features": {"data": "raw/demo"}}))
    result = pipeline("features", "--params", "params.yaml", cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "features.data: not set here; it follows data.path" in result.stderr
