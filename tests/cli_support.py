"""The `pipeline` console command of this environment, run as a user runs it: a process of its own;
and the weights a `pipeline train` run left, compared."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from pipeline.checkpoint import load_checkpoint

PIPELINE = str(Path(sys.executable).with_name("pipeline"))


def pipeline(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 300,
             check: bool = False) -> subprocess.CompletedProcess:
    """`pipeline ARGS...` with its output captured; `check` fails the test (with its stderr) unless it exits 0."""
    result = subprocess.run([PIPELINE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def weights(folder: Path, seed: int = 11) -> dict[str, torch.Tensor]:
    """The state dict of `seed`'s checkpoint, trained by `pipeline train` with `folder` as working directory."""
    return load_checkpoint(folder / "models" / f"seed_{seed}.pt")["model"]


def assert_same_weights(a: dict, b: dict, atol: float) -> None:
    assert a.keys() == b.keys()
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    assert worst <= atol, worst
