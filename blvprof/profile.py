"""Profile one model configuration: MACs, parameters, memory and speed in one JSON-able record.

Counts are per clip (the paper's convention: one view, batch 1); memory and speed are measured at
the requested batch. The record's keys follow the contract in DESIGN.md; absent metrics are absent
keys.
"""

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

import model as zoo
from blvprof.errors import UserError
from blvprof.measure import flops as flops_mod
from blvprof.measure import memory, speed
from blvprof.measure.env import Flags, environment
from blvprof.measure.units import GIB

METRICS = ("flops", "params", "memory", "speed")
COUNTERS = ("fvcore", "flop_counter")
DEFAULT_BUDGET = 16 * GIB


@dataclass(frozen=True)
class ProfileRequest:
    model: str
    overrides: dict[str, Any] = field(default_factory=dict)
    metrics: tuple[str, ...] = ("flops", "params", "memory")
    batch: int = 1
    device: str = "cpu"
    budget_bytes: int = DEFAULT_BUDGET
    flags: Flags = field(default_factory=Flags)
    warmup: int = 2
    steps: int = 5
    by_module_depth: int = 0
    counter: str = "fvcore"  # flop_counter: MACs from FlopCounterMode on fake tensors (fast)

    def __post_init__(self) -> None:
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown:
            raise UserError(f"unknown metric {unknown[0]!r}; choose from {', '.join(METRICS)}")
        if self.batch < 1:
            raise UserError(f"batch={self.batch} must be positive")
        if self.warmup < 0 or self.steps < 1:
            raise UserError("warmup must be >= 0 and steps >= 1")
        if self.counter not in COUNTERS:
            raise UserError(f"counter {self.counter!r} is not one of {', '.join(COUNTERS)}")


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'; 'cuda' without a GPU is an error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but torch sees no CUDA GPU")
    if device not in ("cpu", "cuda"):
        raise UserError(f"device {device!r} is not one of auto, cpu, cuda")
    return device


def settings_of(request: ProfileRequest) -> dict[str, Any]:
    """What a record was measured with, for the store (model config is stored apart)."""
    return {
        "metrics": list(request.metrics),
        "batch": request.batch,
        "device": request.device,
        "budget_bytes": request.budget_bytes,
        "warmup": request.warmup,
        "steps": request.steps,
        "counter": request.counter,
        **dataclasses.asdict(request.flags),
    }


def profile(request: ProfileRequest) -> dict[str, Any]:
    """Measure what ``request`` asks for and return the record.

    A real model (with allocated weights) is built only for what needs one: fvcore's count, speed
    and CUDA memory. Everything else runs on fake tensors.
    """
    config = zoo.resolve_config(request.model, **request.overrides)
    spec = zoo.InputSpec(config.in_channels, config.num_frames, config.image_size)

    def shape_for(batch: int) -> tuple[int, ...]:
        return spec.shape(batch)

    def build() -> nn.Module:
        return zoo.create_model(request.model, **request.overrides)

    real = functools.cache(build)
    record: dict[str, Any] = {
        "model": request.model,
        "family": zoo.get_entry(request.model).family,
        "config": dataclasses.asdict(config),
        "input_shape": list(shape_for(request.batch)),
        "per": "clip",
        "num_frames": spec.num_frames,
    }
    if "params" in request.metrics:
        record["params"] = _parameter_count(build)
    if "flops" in request.metrics:
        record.update(_flops_fields(real, build, shape_for(1), request))
    if "memory" in request.metrics:
        record["memory"] = dataclasses.asdict(_memory(real, build, shape_for, request, config))
    if "speed" in request.metrics:
        record["speed"] = dataclasses.asdict(_speed(real(), shape_for, request, config, record))
    record["env"] = environment(request.device, request.flags)
    return record


def _parameter_count(build: memory.Build) -> int:
    with FakeTensorMode():
        return flops_mod.parameter_count(build())


def _flops_fields(
    real: memory.Build, build: memory.Build, shape: tuple[int, ...], request: ProfileRequest
) -> dict[str, Any]:
    """MACs per clip: fvcore's (cross-checked by FlopCounterMode), or FlopCounterMode's alone.

    FlopCounterMode counts conv/linear/matmul exactly as fvcore does, at 2 FLOPs per MAC (the
    test suite checks this over every registered model); it needs no real forward pass, so
    large grids use it (``counter="flop_counter"``) and leave out fvcore's extra fields.
    """
    counted = flops_mod.count_flops(build, shape)
    flop_counter = {
        "forward_flops": counted.forward_flops,
        "backward_flops": counted.backward_flops,
        "train_flops": counted.train_flops,
    }
    if request.counter == "flop_counter":
        return {
            "macs": counted.macs,
            "macs_counter": "flop_counter",
            "macs_per_frame": counted.macs / shape[2],
            "train_flops": counted.train_flops,
            "flop_counter": flop_counter,
        }
    fv = flops_mod.count_macs(real(), shape, request.by_module_depth)
    fields: dict[str, Any] = {
        "macs": fv.macs,
        "macs_counter": "fvcore",
        "fvcore_macs": fv.fvcore_macs,
        "macs_per_frame": fv.macs / shape[2],
        "macs_by_operator": fv.by_operator,
        "unsupported_ops": fv.unsupported_ops,
        "train_flops": counted.train_flops,
        "flop_counter": {
            **flop_counter,
            "forward_equals_2x_macs": counted.forward_flops == 2 * fv.macs,
        },
    }
    if request.by_module_depth:
        fields["macs_by_module"] = fv.by_module
    return fields


def _memory(
    real: memory.Build,
    build: memory.Build,
    shape_for: memory.ShapeFor,
    request: ProfileRequest,
    config: Any,
) -> memory.MemoryRecord:
    precision = request.flags.precision
    if request.device == "cuda":
        return memory.measure_cuda(
            real(), shape_for, request.batch, request.budget_bytes, config.num_classes, precision
        )
    return memory.estimate(
        build, shape_for, request.batch, request.budget_bytes, config.num_classes, precision
    )


def _speed(
    net: nn.Module,
    shape_for: memory.ShapeFor,
    request: ProfileRequest,
    config: Any,
    record: dict[str, Any],
) -> speed.SpeedRecord:
    flags = request.flags
    torch.manual_seed(flags.seed)
    previous_benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = flags.cudnn_benchmark
    try:
        net = net.to(request.device)
        if flags.channels_last:
            net = net.to(memory_format=_channels_last_format(net))
        runner: nn.Module = torch.compile(net) if flags.compiled else net
        return speed.measure_speed(
            runner,
            shape_for(request.batch),
            request.device,
            flags.precision,
            request.warmup,
            request.steps,
            config.num_classes,
            record.get("train_flops"),
        )
    finally:
        torch.backends.cudnn.benchmark = previous_benchmark


def _channels_last_format(net: nn.Module) -> torch.memory_format:
    has_3d = any(isinstance(m, nn.Conv3d) and m.groups == 1 for m in net.modules())
    return torch.channels_last_3d if has_3d else torch.channels_last


def store_record(
    store: Any,
    request: ProfileRequest,
    record: dict[str, Any],
    study: str,
    key: str,
    started_at: str,
    duration_s: float,
) -> None:
    """Write one successful profile to the results store."""
    from blvprof.store import Run, now

    store.add(
        Run(
            study=study,
            key=key,
            kind="profile",
            model=request.model,
            family=record["family"],
            config=record["config"],
            settings=settings_of(request),
            result={k: v for k, v in record.items() if k not in ("config", "env")},
            env=record["env"],
            status="ok",
            started_at=started_at,
            finished_at=now(),
            duration_s=duration_s,
        )
    )
