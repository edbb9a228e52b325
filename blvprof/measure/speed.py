"""Throughput of inference and of a training step: warm-up, many timed steps, median and spread.

``time_calls`` is the one place time is measured: each call is bracketed by a device synchronise,
so a GPU's queued work is inside the measured interval. Everything else builds on it.
"""

import ctypes
import ctypes.util
import functools
import os
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from blvprof.measure.memory import train_step
from blvprof.measure.precision import autocast
from blvprof.records import Speed, Timing

# Dense (non-sparse) peak FLOP/s by GPU model and precision, from NVIDIA's data sheets. "tf32" is
# the tensor-core figure fp32 convolutions run at where cuDNN allows TF32 (PyTorch's default);
# "fp32" the plain CUDA-core figure they run at otherwise. Keys are (chip, form factor): the same
# chip's PCIe and NVL cards are clocked lower than its SXM module; None where the data sheet gives
# one figure for all. A GPU not listed gets no peak (no share of peak), never a neighbour's.
GPU_PEAK_FLOPS: dict[tuple[str, str | None], dict[str, float]] = {
    ("H200", "SXM"): {"fp32": 67e12, "tf32": 494e12, "bf16": 989e12, "fp16": 989e12},
    ("H200", "NVL"): {"fp32": 60e12, "tf32": 417e12, "bf16": 835e12, "fp16": 835e12},
    ("H100", "SXM"): {"fp32": 67e12, "tf32": 494e12, "bf16": 989e12, "fp16": 989e12},
    ("H100", "PCIE"): {"fp32": 51e12, "tf32": 378e12, "bf16": 756e12, "fp16": 756e12},
    ("H100", "NVL"): {"fp32": 60e12, "tf32": 417e12, "bf16": 835e12, "fp16": 835e12},
    ("A100", None): {"fp32": 19.5e12, "tf32": 156e12, "bf16": 312e12, "fp16": 312e12},
    ("L40S", None): {"fp32": 91.6e12, "tf32": 183e12, "bf16": 362e12, "fp16": 362e12},
    ("L40", None): {"fp32": 90.5e12, "tf32": 90.5e12, "bf16": 181e12, "fp16": 181e12},
    ("A10", None): {"fp32": 31.2e12, "tf32": 62.5e12, "bf16": 125e12, "fp16": 125e12},
    ("L4", None): {"fp32": 30.3e12, "tf32": 60e12, "bf16": 121e12, "fp16": 121e12},
    ("V100", "SXM"): {"fp32": 15.7e12, "fp16": 125e12},
    ("V100", "PCIE"): {"fp32": 14e12, "fp16": 112e12},
    ("T4", None): {"fp32": 8.1e12, "fp16": 65e12},
}
_VENDOR_WORDS = {"NVIDIA", "TESLA"}


# glibc's mallopt parameters (malloc.h) and the values the GLIBC_TUNABLES below set
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


def gpu_model(device_name: str) -> tuple[str, str] | None:
    """(chip, form factor) of a CUDA device name, or None for a MIG slice (a share of a GPU).

    'NVIDIA H100 80GB HBM3' -> ('H100', 'SXM'), 'NVIDIA H100 PCIe' -> ('H100', 'PCIE'),
    'Tesla V100-SXM2-16GB' -> ('V100', 'SXM'), 'NVIDIA A10G' -> ('A10G', 'SXM'). The chip is
    the whole first word after the vendor, so 'L40' never reads as 'L4' nor 'A10G' as 'A10'.
    """
    words = [w for w in re.split(r"[\s_-]+", device_name.upper()) if w not in _VENDOR_WORDS]
    if not words or "MIG" in words:
        return None
    form = next((f for f in ("NVL", "PCIE") if f in words), "SXM")
    return words[0], form


def gpu_peak_flops(device_name: str | None, precision: str, tf32: bool = True) -> float | None:
    """Dense peak FLOP/s of a known GPU at ``precision``, else None; fp32 at the TF32 figure
    when ``tf32`` (cuDNN may run fp32 convolutions on TF32 tensor cores) and the chip has one."""
    found = gpu_model(device_name) if device_name else None
    if found is None:
        return None
    chip, form = found
    peaks = GPU_PEAK_FLOPS.get((chip, form), GPU_PEAK_FLOPS.get((chip, None)))
    if peaks is None:
        return None
    if precision == "fp32" and tf32 and "tf32" in peaks:
        return peaks["tf32"]
    return peaks.get(precision)


def channels_last_format(net: nn.Module) -> torch.memory_format:
    """channels_last_3d for a model with full 3-D convolutions, else channels_last."""
    has_3d = any(isinstance(m, nn.Conv3d) and m.groups == 1 for m in net.modules())
    return torch.channels_last_3d if has_3d else torch.channels_last


def prepare(net: nn.Module, device: str, channels_last: bool = False,
            compiled: bool = False) -> nn.Module:
    """The model as it is timed: on ``device``, channels-last if asked, compiled if asked."""
    net = net.to(device)
    if channels_last:
        net = net.to(memory_format=channels_last_format(net))
    return torch.compile(net) if compiled else net


@dataclass(frozen=True)
class Steps:
    """One inference step and one training step (forward, cross-entropy, backward, SGD-momentum)
    of a model on a random clip: what is timed. Each leaves the model's mode alone: set eval()
    before timing ``infer`` and train() before ``train``."""

    infer: Callable[[], None]
    train: Callable[[], None]


def steps(model: nn.Module, shape: tuple[int, ...], device: str, precision: str,
          num_classes: int) -> Steps:
    clip = torch.randn(shape, device=device)
    labels = torch.randint(0, num_classes, (shape[0],), device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, nesterov=True)

    def infer() -> None:
        with torch.inference_mode(), autocast(device, precision):
            model(clip)

    return Steps(infer, lambda: train_step(model, optimizer, clip, labels, precision))


def measure_speed(
    model: nn.Module,
    shape: tuple[int, ...],
    device: str,
    precision: str,
    warmup: int,
    calls: int,
    num_classes: int,
    train_flops_per_clip: int | None = None,
) -> Speed:
    """Median time of an inference step and a training step (forward, backward, SGD-momentum)."""
    allocator = keep_freed_memory() if device == "cpu" else None
    was_training = model.training
    step = steps(model, shape, device, precision, num_classes)
    try:
        model.eval()
        infer_timing = time_calls(step.infer, warmup, calls, device)
        model.train()
        train_timing = time_calls(step.train, warmup, calls, device)
    finally:
        model.train(was_training)
    return speed_record(infer_timing, train_timing, shape, device, precision,
                        train_flops_per_clip, allocator)


def speed_record(infer: Timing, train: Timing, shape: tuple[int, ...], device: str,
                 precision: str, train_flops_per_clip: int | None = None,
                 cpu_allocator: str | None = None) -> Speed:
    """The record of two timings of steps on clips of ``shape``, with the share of the GPU's
    peak the training step achieved (where the peak is known)."""
    batch, frames = shape[0], shape[2]
    name = torch.cuda.get_device_name() if device == "cuda" else None  # the current device
    peak = gpu_peak_flops(name, precision, torch.backends.cudnn.allow_tf32)
    achieved = (
        train_flops_per_clip * batch / train.median_s if train_flops_per_clip is not None else None
    )
    return Speed(
        device=device,
        batch=batch,
        num_frames=frames,
        infer=infer,
        train=train,
        infer_clips_per_s=batch / infer.median_s,
        train_clips_per_s=batch / train.median_s,
        infer_frames_per_s=batch * frames / infer.median_s,
        train_frames_per_s=batch * frames / train.median_s,
        infer_ms=infer.median_s * 1e3,
        train_ms=train.median_s * 1e3,
        achieved_train_flops_per_s=achieved,
        peak_flops_per_s=peak,
        peak_fraction=achieved / peak if achieved is not None and peak else None,
        cpu_allocator=cpu_allocator,
    )
