"""The thread policy: each process gets the cores it may use divided by the processes sharing them."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import torch

from pipeline.features.config import FeaturesConfig
from pipeline.features.dataset import _outcomes
from pipeline.threads import available_cores, threads_per_process


def test_cores_are_shared_out_and_a_choice_of_the_users_wins(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads_per_process(2, cores=8) == 4 and threads_per_process(3, cores=2) == 1
    assert threads_per_process(2, requested=3, cores=8) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert threads_per_process(2, cores=8) == 5
    assert threads_per_process(2, requested=3, cores=8) == 3  # the param is the more specific choice


def one_process_threads(row):
    return [f"{torch.get_num_threads()}"]


def test_extraction_workers_each_take_their_share(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    outcomes = list(_outcomes([("a",), ("b",), ("c",)], one_process_threads, FeaturesConfig(workers=2), "test"))
    assert {warnings[0] for _, warnings in outcomes} == {str(max(1, available_cores() // 2))}


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity is a Linux call")
def test_a_process_pinned_to_one_core_uses_one_thread():
    if shutil.which("taskset") is None:
        pytest.skip("taskset (util-linux) is not installed")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    code = "from pipeline import distributed; import torch; distributed.setup('cpu'); print(torch.get_num_threads())"
    out = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_ddp_ranks_on_one_machine_share_its_cores():
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"} | {"LOCAL_WORLD_SIZE": "2"}
    code = "from pipeline import distributed; import torch; distributed.setup('cpu'); print(torch.get_num_threads())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(max(1, available_cores() // 2))

