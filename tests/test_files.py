"""Atomic writes: a writer killed mid-file leaves only a temporary file, which `remove_partial` finds."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.files import PARTIAL, atomic_write, remove_partial

# Writes half a file, then waits to be killed (as a Ray actor or a pool worker can be, mid-clip).
WRITER = """
import sys, time
from pathlib import Path
from pipeline.files import atomic_write

def write(tmp):
    Path(tmp).write_bytes(b"half")
    print("writing", flush=True)
    time.sleep(60)

atomic_write(Path(sys.argv[1]), write)
"""


def test_a_killed_writer_leaves_a_partial_file_that_is_then_removed(tmp_path):
    target = tmp_path / "clip" / "features.json"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "writing\n"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    left = [p.name for p in target.parent.iterdir()]
    assert not target.exists() and len(left) == 1 and left[0].startswith(f".features.json{PARTIAL}")

    atomic_write(target.parent / ".key", lambda tmp: Path(tmp).write_text("k"))  # whole files stay
    (target.parent / "other.json").write_text("{}")
    assert [p.name for p in remove_partial(target.parent, "other.json")] == []
    assert [p.name for p in remove_partial(target.parent)] == left
    assert sorted(p.name for p in target.parent.iterdir()) == [".key", "other.json"]
    assert remove_partial(tmp_path / "absent") == []


def test_a_write_that_raises_leaves_nothing(tmp_path):
    def fail(tmp):
        Path(tmp).write_bytes(b"half")
        raise OSError("disk full")

    atomic_write(tmp_path / "a.bin", lambda tmp: Path(tmp).write_bytes(b"whole"))
    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path / "a.bin", fail)
    assert (tmp_path / "a.bin").read_bytes() == b"whole" and [p.name for p in tmp_path.iterdir()] == ["a.bin"]
