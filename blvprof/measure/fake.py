"""Every fake-tensor measurement of one model from one fake build and as few passes as they allow.

Parameters, FlopCounterMode's count and the memory estimate all run on fake tensors, where a pass
costs per operator, not per element: profiling a grid is mostly the fake dispatch of each op.
So the model is built once, under one FakeTensorMode, without the in-place initialisation of
its weights (a fake tensor has no values), and when both FLOPs and memory are asked
for, the count is taken inside the memory estimate's training step at batch 1 (its forward is the
count's forward, its backward the count's backward; the loss and the SGD step add no
conv/linear/matmul work). The results are those of ``flops.count_flops`` and
``memory.estimate`` run apart (``tests/measure/test_fake.py`` checks it).

The garbage collector is paused meanwhile: a configuration's passes leave about 10^5 objects in
reference cycles (closures that torch's pytree helpers make per op), and collecting them as they
pile up cost more than one collection afterwards (about a tenth of a configuration's time,
``benchmarks/NOTES.md`` §7). Tensors die by reference count, which the pause leaves alone, so the
peaks are the same.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode

from blvprof.measure import flops, memory
from blvprof.records import Memory

aten = torch.ops.aten


@dataclass(frozen=True)
class MemoryAsked:
    """What the memory estimate needs beyond the model: its batch, budget and step."""

    batch: int
    budget_bytes: int
    num_classes: int
    precision: str = "fp32"


@dataclass(frozen=True)
class FakeMeasurements:
    """What was asked for; None where it was not."""

    params: int | None
    flops: flops.FlopCount | None  # per clip (batch 1)
    memory: Memory | None


class _InitialisationSkipped(TorchDispatchMode):
    """Leaves out the in-place initialisation of tensors (random draws, fills): a fake tensor
    has no values to set, and these ops were half of a fake build's dispatched ops. Nothing a
    measurement reads changes: shapes, parameters and storages are the same."""

    SKIPPED = frozenset({aten.normal_.default, aten.uniform_.default, aten.fill_.Scalar,
                         aten.fill_.Tensor, aten.zero_.default})

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        if func in self.SKIPPED:
            return args[0]
        return func(*args, **(kwargs or {}))


def build_fake(build: memory.Build) -> nn.Module:
    """``build()`` under the current FakeTensorMode, without initialising its tensors."""
    with _InitialisationSkipped():
        return build()


@contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def measure_fake(
    build: memory.Build,
    shape_for: memory.ShapeFor,
    params: bool,
    count_flops: bool,
    memory_asked: MemoryAsked | None,
) -> FakeMeasurements:
    """Parameters, FLOPs per clip and the memory estimate, as asked, on one fake model."""
    with gc_paused(), FakeTensorMode():
        model = build_fake(build)
        n_params = flops.parameter_count(model) if params else None
        if memory_asked is None:
            counted = flops.count_flops_of(model, shape_for(1)) if count_flops else None
            return FakeMeasurements(n_params, counted, None)
        counter = flops.TrainFlopCounter() if count_flops else None
        estimate = memory.estimate_on(model, shape_for, memory_asked.batch,
                                      memory_asked.budget_bytes, memory_asked.num_classes,
                                      memory_asked.precision, counter)
        return FakeMeasurements(n_params, counter.count() if counter else None, estimate)
