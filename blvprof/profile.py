"""Profile one model configuration: MACs, parameters, memory and speed in one typed record.

The model is a registered name or a reference to a callable (``blvprof.external``), or a module
already built (:func:`profile_module`). Counts are per clip (the paper's convention: one view,
batch 1) whatever layout the model takes its input in; memory and speed are measured at
the requested batch. :func:`measure` fills a :class:`blvprof.records.Profile`; :func:`profile`
returns it as the JSON documented in docs/records.md (absent metrics are absent keys).
"""

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

import model as zoo
from blvprof import external
from blvprof.errors import UserError
from blvprof.measure import fake as fake_mod
from blvprof.measure import flops as flops_mod
from blvprof.measure import memory, speed
from blvprof.measure.env import environment
from blvprof.records import (
    Counter,
    Counts,
    Device,
    Environment,
    FlopCounts,
    Metric,
    Profile,
    Request,
    choose,
)

ProfileRequest = Request  # the name the README's Python example imports


def resolve_device(device: str) -> Device:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'; 'cuda' without a GPU is an error."""
    device = choose(Device, device, "device")
    if device == Device.AUTO:
        return Device.CUDA if torch.cuda.is_available() else Device.CPU
    if device == Device.CUDA and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but torch sees no CUDA GPU")
    return device


def check_request(request: Request) -> Request:
    """Refuse an input declaration a model cannot take, before anything runs."""
    if request.layout is not None:
        external.check_layout(request.layout)
    declared = request.input_shape is not None or request.layout is not None
    if declared and not external.is_reference(request.model):
        raise UserError(f"{request.model} declares its input (input_spec): --input-shape and "
                        "--layout are for model references")
    return request


def _zoo_subject(request: Request) -> external.Subject:
    config = zoo.resolve_config(request.model, **request.overrides)

    def build() -> nn.Module:
        return zoo.create_model(request.model, **request.overrides)

    clip = (config.in_channels, config.num_frames, config.image_size, config.image_size)
    return external.Subject(build, clip, "ncthw", config.num_classes,
                            dataclasses.asdict(config), request.model,
                            zoo.get_entry(request.model).family)


def subject_of(request: Request) -> external.Subject:
    """What ``request.model`` names, ready to measure: a zoo model or a checked reference."""
    check_request(request)
    if external.is_reference(request.model):
        clip = (external.check_input_shape(request.input_shape)
                if request.input_shape is not None else None)
        return external.prepare(request.model, request.overrides, clip, request.layout)
    return _zoo_subject(request)


def measure(request: Request) -> Profile:
    """Measure what ``request`` asks for.

    A real model (with allocated weights) is built only for what needs one: fvcore's count, speed
    and CUDA memory. Everything else runs on fake tensors.
    """
    return measure_subject(subject_of(request), request)


def profile(request: Request) -> dict[str, Any]:
    """:func:`measure`'s record as JSON (docs/records.md)."""
    return measure(request).to_json()


def profile_module(
    module: nn.Module,
    input_shape: tuple[int, int, int, int] | None,
    layout: str = "ncthw",
    metrics: tuple[str, ...] = ("flops", "params", "memory"),
    **settings: Any,
) -> dict[str, Any]:
    """The record of :func:`profile` for a module already built in this process.

    ``input_shape`` is one clip's (C, T, H, W) (None: the module's ``input_spec``); ``layout`` is
    how the module takes it. ``settings`` are further :class:`Request` fields (batch, device,
    counter, ...). Fake-tensor measurements use a fake copy; fvcore's count, speed and CUDA
    memory run the module itself (on CUDA it is moved to the GPU).
    """
    subject = external.module_subject(module, input_shape, layout)
    request = Request(model=subject.name, metrics=tuple(metrics), **settings)
    return measure_subject(subject, request).to_json()


@dataclass(frozen=True)
class Measuring:
    """One subject being measured: what every measurement is given."""

    subject: external.Subject
    request: Request
    build: memory.Build  # a model on whatever tensors are current (called under fake modes)
    real: memory.Build  # the one real model (built once, on first use)

    def shape_for(self, batch: int) -> tuple[int, ...]:
        return (batch, *self.subject.clip)

    @functools.cached_property
    def fake(self) -> fake_mod.FakeMeasurements:
        """What the request's metrics take from fake tensors, from one fake build (once)."""
        request = self.request
        memory_asked = None
        if request.estimates_memory:
            memory_asked = fake_mod.MemoryAsked(request.batch, request.budget_bytes,
                                                self.subject.num_classes, request.flags.precision)
        return fake_mod.measure_fake(
            self.build,
            self.shape_for,
            params=Metric.PARAMS in request.metrics,
            count_flops=Metric.FLOPS in request.metrics,
            memory_asked=memory_asked,
        )


# What each metric fills in the record, in this order (speed uses the counts of flops): a
# function of the subject and the fields measured before it, returning its Profile fields.
Measurement = Callable[[Measuring, dict[str, Any]], dict[str, Any]]


def _params(m: Measuring, _: dict[str, Any]) -> dict[str, Any]:
    return {"params": m.fake.params}


def _counts(m: Measuring, _: dict[str, Any]) -> dict[str, Any]:
    """MACs per clip: fvcore's (cross-checked by FlopCounterMode), or FlopCounterMode's alone.

    FlopCounterMode counts conv/linear/matmul exactly as fvcore does, at 2 FLOPs per MAC (the
    test suite checks this over every registered model); it needs no real forward pass, so
    large grids use it (``counter="flop_counter"``) and leave out fvcore's extra fields.
    """
    shape = m.shape_for(1)
    counted = m.fake.flops
    flop_counter = FlopCounts(counted.forward_flops, counted.backward_flops, counted.train_flops)
    if m.request.counter == Counter.FLOP_COUNTER:
        return {"counts": Counts(counted.macs, Counter.FLOP_COUNTER, counted.train_flops,
                                 counted.macs / shape[2], flop_counter)}
    fv = flops_mod.count_macs(m.real(), shape, m.request.by_module_depth)
    return {"counts": Counts(
        macs=fv.macs,
        counter=Counter.FVCORE,
        train_flops=counted.train_flops,
        macs_per_frame=fv.macs / shape[2],
        flop_counter=dataclasses.replace(
            flop_counter, forward_equals_2x_macs=counted.forward_flops == 2 * fv.macs),
        fvcore_macs=fv.fvcore_macs,
        macs_by_operator=fv.by_operator,
        unsupported_ops=fv.unsupported_ops,
        macs_by_module=fv.by_module if m.request.by_module_depth else None,
    )}


def _memory(m: Measuring, _: dict[str, Any]) -> dict[str, Any]:
    request, classes = m.request, m.subject.num_classes
    precision = request.flags.precision
    if request.device == Device.CUDA:
        return {"memory": memory.measure_cuda(m.real(), m.shape_for, request.batch,
                                              request.budget_bytes, classes, precision)}
    return {"memory": m.fake.memory}


def _speed(m: Measuring, done: dict[str, Any]) -> dict[str, Any]:
    request, flags = m.request, m.request.flags
    counts: Counts | None = done.get("counts")
    torch.manual_seed(flags.seed)
    previous_benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = flags.cudnn_benchmark
    try:
        net = speed.prepare(m.real(), request.device, flags.channels_last, flags.compiled)
        return {"speed": speed.measure_speed(
            net, m.shape_for(request.batch), request.device, flags.precision, request.warmup,
            request.steps, m.subject.num_classes, counts.train_flops if counts else None)}
    finally:
        torch.backends.cudnn.benchmark = previous_benchmark


MEASUREMENTS: dict[Metric, Measurement] = {
    Metric.PARAMS: _params,
    Metric.FLOPS: _counts,
    Metric.MEMORY: _memory,
    Metric.SPEED: _speed,
}


def measure_subject(subject: external.Subject, request: Request) -> Profile:
    """The record for a model ready to measure; counts are per clip whatever its layout."""
    m = Measuring(subject, request, subject.build, functools.cache(subject.build))
    fields: dict[str, Any] = {}
    for metric, measurement in MEASUREMENTS.items():
        if metric in request.metrics:
            fields.update(measurement(m, fields))
    return Profile(
        model=subject.name,
        family=subject.family,
        config=subject.config,
        input_shape=m.shape_for(request.batch),
        layout=subject.layout,
        model_input_shape=external.layout_shape(m.shape_for(request.batch), subject.layout),
        num_frames=subject.clip[1],
        env=Environment.from_row(environment(request.device, request.flags)),
        **fields,
    )
