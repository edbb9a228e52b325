"""Throughput of inference and of a training step: warm-up, many timed steps, median and spread.

``time_calls`` is the one place time is measured: each call is bracketed by a device synchronise,
so a GPU's queued work is inside the measured interval. Everything else builds on it.
"""

import ctypes
import ctypes.util
import functools
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from blvprof.measure.memory import train_step
from blvprof.measure.precision import autocast

# Dense (non-sparse) peak FLOP/s by GPU and precision; fp32 convs run on TF32 tensor cores where
# cuDNN allows it (PyTorch's default), so "fp32" here is the TF32 figure on Ampere and later.
GPU_PEAK_FLOPS: dict[str, dict[str, float]] = {
    "H200": {"fp32": 494e12, "bf16": 989e12, "fp16": 989e12},
    "H100": {"fp32": 494e12, "bf16": 989e12, "fp16": 989e12},  # SXM
    "A100": {"fp32": 156e12, "bf16": 312e12, "fp16": 312e12},
    "L40S": {"fp32": 183e12, "bf16": 362e12, "fp16": 362e12},
    "A10": {"fp32": 62.5e12, "bf16": 125e12, "fp16": 125e12},
    "L4": {"fp32": 60e12, "bf16": 121e12, "fp16": 121e12},
    "V100": {"fp32": 15.7e12, "fp16": 125e12},
    "T4": {"fp32": 8.1e12, "fp16": 65e12},
}


# glibc's mallopt parameters (malloc.h) and the values DESIGN.md's GLIBC_TUNABLES set
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_TRIM_THRESHOLD = 2**31 - 1  # mallopt takes a C int: 2 GiB, not the tunable's 64 GiB


@functools.cache
def keep_freed_memory() -> str:
    """Make glibc keep freed memory in this process; say how the CPU allocator is set up.

    By default glibc serves large tensors with mmap and returns them on free, so every CPU step
    page-faults its activations in afresh: on a 2-core EPYC that made TSN-R50's 224² inference
    1.9× slower and its ranking against other models depend on which ran first. This is
    ``GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=...`` applied with
    mallopt, which glibc honours at any time (tunables only at start). Timings then measure the
    model, not the allocator; the record says which allocator set-up they had.
    """
    if "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return "glibc, GLIBC_TUNABLES=" + os.environ["GLIBC_TUNABLES"]
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return "default (not glibc)"
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(_M_MMAP_MAX, 0) != 1 or mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) != 1:
        return "default (mallopt refused)"
    return "glibc, freed memory kept (mallopt mmap_max=0, trim_threshold=2 GiB)"


@dataclass(frozen=True)
class Timing:
    """Seconds per call over the timed calls (after warm-up)."""

    median_s: float
    min_s: float
    max_s: float
    p10_s: float
    p90_s: float
    calls: int


@dataclass(frozen=True)
class SpeedRecord:
    device: str
    batch: int
    num_frames: int
    infer: Timing
    train: Timing
    infer_clips_per_s: float
    train_clips_per_s: float
    infer_frames_per_s: float
    train_frames_per_s: float
    infer_ms: float  # median per step
    train_ms: float
    achieved_train_flops_per_s: float | None  # from FlopCounterMode's forward+backward count
    peak_flops_per_s: float | None  # dense peak of the GPU at this precision; None if unknown
    peak_fraction: float | None
    cpu_allocator: str | None = None  # on CPU: see keep_freed_memory


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_calls(fn: Callable[[], object], warmup: int, calls: int, device: str) -> Timing:
    """Run ``fn`` ``warmup`` times untimed, then ``calls`` times timed one by one."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return summarize(seconds)


def summarize(seconds: list[float]) -> Timing:
    if not seconds:
        raise ValueError("no timed calls")
    ordered = sorted(seconds)
    deciles = (
        statistics.quantiles(ordered, n=10, method="inclusive")
        if len(ordered) > 1
        else [ordered[0]] * 9
    )
    return Timing(
        statistics.median(ordered), ordered[0], ordered[-1], deciles[0], deciles[-1], len(ordered)
    )


def gpu_peak_flops(device_name: str | None, precision: str) -> float | None:
    """Dense peak FLOP/s for a known GPU name and precision, else None."""
    if not device_name:
        return None
    for key, peaks in GPU_PEAK_FLOPS.items():
        if key in device_name.upper():
            return peaks.get(precision)
    return None


def measure_speed(
    model: nn.Module,
    shape: tuple[int, ...],
    device: str,
    precision: str,
    warmup: int,
    calls: int,
    num_classes: int,
    train_flops_per_clip: int | None = None,
) -> SpeedRecord:
    """Median time of an inference step and a training step (forward, backward, SGD-momentum)."""
    allocator = keep_freed_memory() if device == "cpu" else None
    was_training = model.training
    clip = torch.randn(shape, device=device)
    labels = torch.randint(0, num_classes, (shape[0],), device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, nesterov=True)

    def infer() -> None:
        with torch.inference_mode(), autocast(device, precision):
            model(clip)

    try:
        model.eval()
        infer_timing = time_calls(infer, warmup, calls, device)
        model.train()
        train_timing = time_calls(
            lambda: train_step(model, optimizer, clip, labels, precision), warmup, calls, device
        )
    finally:
        model.train(was_training)
    batch, frames = shape[0], shape[2]
    name = torch.cuda.get_device_name(0) if device == "cuda" else None
    peak = gpu_peak_flops(name, precision)
    achieved = (
        train_flops_per_clip * batch / train_timing.median_s
        if train_flops_per_clip is not None
        else None
    )
    return SpeedRecord(
        device=device,
        batch=batch,
        num_frames=frames,
        infer=infer_timing,
        train=train_timing,
        infer_clips_per_s=batch / infer_timing.median_s,
        train_clips_per_s=batch / train_timing.median_s,
        infer_frames_per_s=batch * frames / infer_timing.median_s,
        train_frames_per_s=batch * frames / train_timing.median_s,
        infer_ms=infer_timing.median_s * 1e3,
        train_ms=train_timing.median_s * 1e3,
        achieved_train_flops_per_s=achieved,
        peak_flops_per_s=peak,
        peak_fraction=achieved / peak if achieved is not None and peak else None,
        cpu_allocator=allocator,
    )
