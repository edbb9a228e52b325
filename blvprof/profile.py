"""Profile one model configuration: MACs, parameters, memory and speed in one JSON-able record.

The model is a registered name or a reference to a callable (``blvprof.external``), or a module
already built (:func:`profile_module`). Counts are per clip (the paper's convention: one view,
batch 1) whatever layout the model takes its input in; memory and speed are measured at
the requested batch. The record's keys are documented in docs/records.md; absent metrics are
absent keys.
"""

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

import model as zoo
from blvprof import external
from blvprof.errors import UserError
from blvprof.measure import flops as flops_mod
from blvprof.measure import memory, speed
from blvprof.measure.env import Flags, environment
from blvprof.units import GIB

METRICS = ("flops", "params", "memory", "speed")
COUNTERS = ("fvcore", "flop_counter")
DEFAULT_BUDGET = 16 * GIB


@dataclass(frozen=True)
class ProfileRequest:
    model: str  # a registered name, or a reference FILE.py:CALLABLE / MODULE:CALLABLE
    overrides: dict[str, Any] = field(default_factory=dict)  # config fields, or the callable's
    metrics: tuple[str, ...] = ("flops", "params", "memory")
    batch: int = 1
    device: str = "cpu"
    budget_bytes: int = DEFAULT_BUDGET
    flags: Flags = field(default_factory=Flags)
    warmup: int = 2
    steps: int = 5
    by_module_depth: int = 0
    counter: str = "fvcore"  # flop_counter: MACs from FlopCounterMode on fake tensors (fast)
    # One clip's C, T, H, W and how the model takes it, for a reference without an input_spec
    input_shape: tuple[int, ...] | None = None
    layout: str | None = None  # None: the model's declared layout, else ncthw

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
        if self.layout is not None:
            external.check_layout(self.layout)
        declared = self.input_shape is not None or self.layout is not None
        if declared and not external.is_reference(self.model):
            raise UserError(f"{self.model} declares its input (input_spec): --input-shape and "
                            "--layout are for model references")


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


def _zoo_subject(request: ProfileRequest) -> external.Subject:
    config = zoo.resolve_config(request.model, **request.overrides)

    def build() -> nn.Module:
        return zoo.create_model(request.model, **request.overrides)

    clip = (config.in_channels, config.num_frames, config.image_size, config.image_size)
    return external.Subject(build, clip, "ncthw", config.num_classes,
                            dataclasses.asdict(config), request.model,
                            zoo.get_entry(request.model).family)


def subject_of(request: ProfileRequest) -> external.Subject:
    """What ``request.model`` names, ready to measure: a zoo model or a checked reference."""
    if external.is_reference(request.model):
        clip = (external.check_input_shape(request.input_shape)
                if request.input_shape is not None else None)
        return external.prepare(request.model, request.overrides, clip, request.layout)
    return _zoo_subject(request)


def profile(request: ProfileRequest) -> dict[str, Any]:
    """Measure what ``request`` asks for and return the record.

    A real model (with allocated weights) is built only for what needs one: fvcore's count, speed
    and CUDA memory. Everything else runs on fake tensors.
    """
    return measure_subject(subject_of(request), request)


def profile_module(
    module: nn.Module,
    input_shape: tuple[int, int, int, int] | None,
    layout: str = "ncthw",
    metrics: tuple[str, ...] = ("flops", "params", "memory"),
    **settings: Any,
) -> dict[str, Any]:
    """The record of :func:`profile` for a module already built in this process.

    ``input_shape`` is one clip's (C, T, H, W) (None: the module's ``input_spec``); ``layout`` is
    how the module takes it. ``settings`` are further :class:`ProfileRequest` fields (batch,
    device, counter, ...). Fake-tensor measurements use a fake copy; fvcore's count, speed and
    CUDA memory run the module itself (on CUDA it is moved to the GPU).
    """
    subject = external.module_subject(module, input_shape, layout)
    request = ProfileRequest(model=subject.name, metrics=tuple(metrics), **settings)
    return measure_subject(subject, request)


def measure_subject(subject: external.Subject, request: ProfileRequest) -> dict[str, Any]:
    """The record for a model ready to measure; counts are per clip whatever its layout."""

    def shape_for(batch: int) -> tuple[int, ...]:
        return (batch, *subject.clip)

    build = subject.build
    real = functools.cache(build)
    record: dict[str, Any] = {
        "model": subject.name,
        "family": subject.family,
        "config": subject.config,
        "input_shape": list(shape_for(request.batch)),
        "layout": subject.layout,
        "model_input_shape": list(external.layout_shape(shape_for(request.batch),
                                                        subject.layout)),
        "per": "clip",
        "num_frames": subject.clip[1],
    }
    if "params" in request.metrics:
        record["params"] = _parameter_count(build)
    if "flops" in request.metrics:
        record.update(_flops_fields(real, build, shape_for(1), request))
    if "memory" in request.metrics:
        record["memory"] = dataclasses.asdict(
            _memory(real, build, shape_for, request, subject.num_classes))
    if "speed" in request.metrics:
        record["speed"] = dataclasses.asdict(
            _speed(real(), shape_for, request, subject.num_classes, record))
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
    num_classes: int,
) -> memory.MemoryRecord:
    precision = request.flags.precision
    if request.device == "cuda":
        return memory.measure_cuda(
            real(), shape_for, request.batch, request.budget_bytes, num_classes, precision
        )
    return memory.estimate(
        build, shape_for, request.batch, request.budget_bytes, num_classes, precision
    )


def _speed(
    net: nn.Module,
    shape_for: memory.ShapeFor,
    request: ProfileRequest,
    num_classes: int,
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
            num_classes,
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
