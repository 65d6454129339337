"""The `pipeline` console command of this environment, run as a user runs it: a process of its own."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PIPELINE = str(Path(sys.executable).with_name("pipeline"))


def pipeline(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 300,
             check: bool = False) -> subprocess.CompletedProcess:
    """`pipeline ARGS...` with its output captured; `check` fails the test (with its stderr) unless it exits 0."""
    result = subprocess.run([PIPELINE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, result.stderr
    return result
