"""Process-group plumbing for DDP: one process per GPU (nccl), or several CPU processes (gloo).

Launched by torchrun, which sets RANK / WORLD_SIZE / LOCAL_RANK; without them everything runs as
a single process and every helper here is a no-op.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from .threads import set_threads


@dataclass(frozen=True)
class Context:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto", threads: int = 0) -> Context:
    """Join the process group when launched by torchrun; pick the device ("auto", "cpu", "cuda"); share
    the cores among the processes (`threads` > 0: that many per process)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    use_cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    if use_cuda:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        target = torch.device("cuda", local_rank)
    else:
        target = torch.device("cpu")
    # torchrun's processes share this machine's cores (LOCAL_WORLD_SIZE of them run here).
    set_threads(int(os.environ.get("LOCAL_WORLD_SIZE", world_size)), threads)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Context(rank, world_size, target)


def torchrun_command(nproc: int, nnodes: int, rdzv_endpoint: str, module: str, args: list[str]) -> list[str]:
    """The command line that runs `python -m module args` as `nproc` processes on this machine, one of
    `nnodes` machines that each run the same command and meet at `rdzv_endpoint` (host:port)."""
    if nnodes == 1:
        where = ["--standalone"]
    else:  # the c10d rendezvous: the node whose address is the endpoint hosts it, the others join
        where = [f"--nnodes={nnodes}", "--rdzv_backend=c10d", f"--rdzv_endpoint={rdzv_endpoint}"]
    return [sys.executable, "-m", "torch.distributed.run", *where, f"--nproc_per_node={nproc}", "-m", module, *args]


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()


def gather_objects(ctx: Context, value: Any) -> list[Any]:
    """Every rank's `value`, in rank order (a one-element list when not distributed)."""
    if not ctx.distributed:
        return [value]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, value)
    return out


def mean_across(ctx: Context, values: dict[str, float]) -> dict[str, float]:
    """Average a dict of floats over the ranks (same keys on every rank)."""
    if not ctx.distributed:
        return values
    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(tensor)
    return {k: v / ctx.world_size for k, v in zip(keys, tensor.tolist())}
