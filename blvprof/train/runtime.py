"""Seeds and determinism for a run, set per epoch and restored afterwards.

Each epoch reseeds torch (and the DataLoader's generator) from (seed, epoch, rank), so a resumed
run draws exactly the random numbers it would have drawn uninterrupted, without storing RNG states.
"""

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """A 64-bit seed for one epoch of one process, well mixed from the three inputs."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1, np.uint64)[0])


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), Python's ``random`` and NumPy's global generator."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed ``random`` and NumPy from the worker's torch seed."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


@contextmanager
def deterministic_algorithms(enabled: bool) -> Iterator[None]:
    """Ask torch for deterministic kernels (warning, not failing, where an op has none)."""
    cudnn = torch.backends.cudnn
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        cudnn.deterministic,
        cudnn.benchmark,
    )
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it to be
        torch.use_deterministic_algorithms(True, warn_only=True)
        cudnn.deterministic, cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        cudnn.deterministic, cudnn.benchmark = saved[2], saved[3]
