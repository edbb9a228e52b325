"""Data-parallel training when launched by ``torchrun``: one process per device, gloo or nccl.

A run is distributed when the environment says ``WORLD_SIZE`` > 1. ``train_model`` then joins (or
reuses) the default process group, shards the data, wraps the model in DDP and all-reduces its
metrics; only rank 0 writes checkpoints, shows progress and returns the record.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from blvprof.errors import UserError


@dataclass(frozen=True)
class Processes:
    """This process's place among the training processes (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def launched_processes() -> Processes:
    """Rank, world size and local rank from the variables ``torchrun`` sets."""
    try:
        return Processes(
            rank=int(os.environ.get("RANK", "0")),
            world_size=int(os.environ.get("WORLD_SIZE", "1")),
            local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        )
    except ValueError as error:
        raise UserError(f"bad torchrun environment (RANK/WORLD_SIZE/LOCAL_RANK): {error}") from None


@contextmanager
def process_group(device_type: str) -> Iterator[Processes]:
    """Join the default process group for a distributed launch; leave it after if we joined it.

    On CUDA this process's GPU (``LOCAL_RANK``) is chosen first and named to the group: NCCL
    otherwise sets up its communicator on whatever device is current (GPU 0 in every process).
    """
    processes = launched_processes()
    joined = processes.distributed and not dist.is_initialized()
    if joined and device_type == "cuda":
        gpu = torch.device("cuda", processes.local_rank)
        torch.cuda.set_device(gpu)
        dist.init_process_group(backend="nccl", device_id=gpu)
    elif joined:
        dist.init_process_group(backend="gloo")
    try:
        yield processes
    finally:
        if joined:
            dist.destroy_process_group()


def resolve_device(device: str, processes: Processes) -> torch.device:
    """``auto`` → CUDA when visible, else CPU; a distributed CUDA run uses GPU ``LOCAL_RANK``."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return torch.device("cpu")
    if device != "cuda":
        raise UserError(f"device={device!r} is not one of auto, cpu, cuda")
    if not torch.cuda.is_available():
        raise UserError("device='cuda' was asked for, but torch sees no CUDA GPU")
    torch.cuda.set_device(processes.local_rank)
    return torch.device("cuda", processes.local_rank)


def device_type(device: str) -> str:
    """The device type ``resolve_device`` will pick, before any process group exists."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def all_reduce_sum(
    values: torch.Tensor, processes: Processes, device: torch.device
) -> torch.Tensor:
    """Sums over all processes of a CPU tensor (through ``device``: nccl reduces GPU tensors)."""
    if not processes.distributed:
        return values
    on_device = values.to(device)
    dist.all_reduce(on_device)
    return on_device.cpu()


def all_finite(loss: torch.Tensor, processes: Processes) -> bool:
    """Whether the loss is finite in every process, so that all stop together when one diverges."""
    finite = torch.isfinite(loss.detach()).to(torch.int32)
    if processes.distributed:
        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    return bool(finite.item())
