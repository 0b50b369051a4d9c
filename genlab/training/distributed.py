"""Data parallelism on PyTorch's own engine: ``torchrun --nproc-per-node K genlab train …``.

torchrun starts K copies of the same command and tells each its place through environment variables
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``); this module turns them into
a process group (gloo on CPU, NCCL on GPUs) and wraps the model in ``DistributedDataParallel``, which
averages gradients across processes during ``backward``.

One command must mean one optimisation whatever K is, so ``--batch-size`` is always the *global*
batch. Every process draws the same window positions from the same seeded generator (drawing
numbers is free), and each reads from the token store only its own rows of that batch
(:func:`rank_rows`); rows that do not divide evenly go to the first ranks, and a rank's share is cut
into micro-batches of at most ``batch_size / grad_accum`` rows (gradient accumulation). Each
micro-batch's mean loss is weighted by its share of the global batch's target tokens, so the
averaged gradient is exactly the gradient of the global mean loss — the same numbers as one process,
up to float summation order. Because the generator state is the same on every rank, a checkpoint
does not depend on K: a run saved by 4 processes resumes on 1, or on 8.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from genlab.errors import GenlabError

#: how long a collective may wait for a lagging rank before the job fails (instead of hanging)
COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=10)


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job (a single process is rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """Only the main rank writes files, logs and shows progress."""
        return self.rank == 0


#: a plain, single-process run
SINGLE = Ranks()


def from_environment() -> Ranks:
    """Read torchrun's variables; without them (a plain ``genlab train``) this is rank 0 of 1."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise GenlabError(f"torchrun's RANK/WORLD_SIZE/LOCAL_RANK are not integers ({exc}); "
                          "launch with torchrun, or unset them") from exc
    if world < 1 or not 0 <= rank < world:
        raise GenlabError(f"RANK {rank} / WORLD_SIZE {world} is not a valid place in a job; launch with torchrun")
    return Ranks(rank, world, local)


def setup(device: str) -> tuple[Ranks, str]:
    """Join the job's process group (when launched by torchrun); returns the ranks and this rank's device.

    GPUs: one per process (``cuda:LOCAL_RANK``) and NCCL; CPUs: gloo. A single process changes nothing.
    """
    ranks = from_environment()
    if not ranks.active:
        return ranks, device
    import torch.distributed as dist

    kind = device.split(":")[0]
    if kind == "cuda":
        if ranks.local_rank >= torch.cuda.device_count():
            raise GenlabError(f"LOCAL_RANK {ranks.local_rank} but only {torch.cuda.device_count()} GPUs here; "
                              "use --nproc-per-node ≤ the number of GPUs")
        device = f"cuda:{ranks.local_rank}"
        torch.cuda.set_device(device)
        backend = "nccl"
    elif kind == "cpu":
        backend = "gloo"
    else:
        raise GenlabError(f"multi-process training supports --device cpu or cuda, not {device}")
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
        except (RuntimeError, ValueError) as exc:
            raise GenlabError(f"could not join the torchrun job ({exc}); check --rdzv-endpoint / "
                              "--master-addr and that every node can reach it") from exc
    return ranks, device


def teardown(ranks: Ranks) -> None:
    if ranks.active:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def barrier(ranks: Ranks) -> None:
    if ranks.active:
        import torch.distributed as dist

        dist.barrier()


def wrap(model: nn.Module, ranks: Ranks, device: str) -> nn.Module:
    """``DistributedDataParallel(model)`` in a job (it also copies rank 0's weights to every rank)."""
    if not ranks.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [torch.device(device).index] if device.startswith("cuda") else None
    return DistributedDataParallel(model, device_ids=ids)


def no_sync(model: nn.Module, last: bool) -> AbstractContextManager:
    """Skip DDP's gradient all-reduce on every micro-batch but a rank's last (accumulate locally)."""
    if last or not hasattr(model, "no_sync"):
        return nullcontext()
    return model.no_sync()


def sum_across(values: torch.Tensor, ranks: Ranks) -> list[float]:
    """Sum a small float vector over all ranks and bring it to the host: the step's one sync."""
    if ranks.active:
        import torch.distributed as dist

        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values.tolist()


def rank_rows(batch_size: int, ranks: Ranks) -> slice:
    """This rank's rows of a global batch: contiguous, sizes differing by at most one."""
    if batch_size < ranks.world:
        raise GenlabError(f"--batch-size {batch_size} is smaller than the {ranks.world} processes; "
                          f"use --batch-size ≥ {ranks.world} or fewer processes")
    base, extra = divmod(batch_size, ranks.world)
    start = ranks.rank * base + min(ranks.rank, extra)
    return slice(start, start + base + (ranks.rank < extra))


def micro_slices(rows: int, micro: int) -> list[slice]:
    """Cut ``rows`` rows into consecutive micro-batches of at most ``micro`` rows."""
    return [slice(i, min(i + micro, rows)) for i in range(0, rows, max(micro, 1))]


def rank_seed(seed: int, step: int, ranks: Ranks) -> int:
    """A seed for this rank's own randomness (dropout masks must differ across ranks)."""
    return (seed * 1_000_003 + step * 7_919 + ranks.rank) % (2**63)


def take_rows(batch: Sequence[torch.Tensor], rows: slice) -> tuple[torch.Tensor, ...]:
    """Rows of every tensor in a batch (views, no copy)."""
    return tuple(t[rows] for t in batch)
