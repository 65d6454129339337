"""Reading params.yaml: one file, one section per stage."""
from __future__ import annotations

import dataclasses
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


def check_one_place(section: str, values: dict[str, Any] | None, elsewhere: dict[str, str]) -> None:
    """A setting lives in one section: `section.key` for a key of `elsewhere` (key -> where it is set)
    is a one-line error naming that place, so that one change (`dvc exp run -S data.path=...`) is enough."""
    for key, where in elsewhere.items():
        if key in (values or {}):
            raise ValueError(f"{section}.{key}: not set here; it follows {where} (one place for each setting)")


def section_from_params(cls: type, section: str, values: dict[str, Any] | None) -> Any:
    """Dataclass `cls` (every field with a default) from one params section.

    An unknown key or a value of the wrong type is a ValueError naming `section.key`, so a typo
    fails before any work starts. The field defaults decide the expected types.
    """
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValueError(f"{section}: expected a mapping of keys, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    defaults = cls()
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fields:
            raise ValueError(f"{section}.{key}: unknown key (known: {', '.join(sorted(fields))})")
        default = getattr(defaults, key)
        kwargs[key] = _coerce_value(f"{section}.{key}", value, default)
    return cls(**kwargs)


def _coerce_value(name: str, value: Any, default: Any) -> Any:
    # bool first: isinstance(True, int) holds, and `use_hsf: 1` is more likely a typo than intent.
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name}: expected true/false, got {value!r}")
        return value
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name}: expected a number, got {value!r}")
        if isinstance(default, int) and not float(value).is_integer():
            raise ValueError(f"{name}: expected a whole number, got {value!r}")
        return type(default)(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError(f"{name}: expected a string, got {value!r}")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{name}: expected a list, got {value!r}")
        return tuple(value)
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise ValueError(f"{name}: expected a mapping, got {value!r}")
        return {str(k): v for k, v in value.items()}
    return value
