"""Reading params.yaml: one file, one section per stage."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def load_params(path: str | Path) -> dict[str, Any]:
    """The whole params file as a mapping; a missing or malformed file is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: params file not found")
    try:
        params = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(params, dict):
        raise ValueError(f"{path}: expected a mapping of sections, got {type(params).__name__}")
    return params
