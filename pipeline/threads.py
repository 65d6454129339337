"""One thread policy for every command: the cores this process may use, shared among the processes
that run side by side (DDP ranks, extraction workers, Ray actors).

Left alone, torch starts one OpenMP thread per core in every process; N processes on C cores then
run N·C spinning threads and a step can take ten times longer. So each command asks for
`cores // processes` threads, unless the user chose: a param (`threads`, > 0) wins, then
`OMP_NUM_THREADS`.
"""
from __future__ import annotations

import os

import torch


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity: a container's or a job scheduler's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_process(processes: int = 1, requested: int = 0, cores: int | None = None) -> int:
    """The intra-op threads for one of `processes` processes sharing `cores` (default: this process's).

    `requested` > 0 (a param) wins; then OMP_NUM_THREADS when it is a positive number."""
    if requested > 0:
        return requested
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, (available_cores() if cores is None else cores) // max(1, processes))


def set_threads(processes: int = 1, requested: int = 0, cores: int | None = None) -> int:
    """Apply `threads_per_process` to torch's intra-op pool; returns the count (for other pools:
    CTranslate2's `cpu_threads`, OpenCV's `setNumThreads`)."""
    threads = threads_per_process(processes, requested, cores)
    torch.set_num_threads(threads)
    return threads
