"""Memory: the fake-tensor estimate against an independent CPU measurement, and the fit."""

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

import model as zoo
from blvprof.measure import memory
from tests.tiny import tiny_overrides

SMALL = {"depth": 26, "base_width": 16, "num_frames": 8, "image_size": 96, "num_classes": 10}


def profiler_step_peak(net: torch.nn.Module, shape: tuple[int, ...]) -> int:
    """Peak bytes a real CPU training step allocates beyond what exists before it.

    Independent of MemTracker: torch.profiler records every CPU allocation and free; their
    running sum over time gives the step's peak.
    """
    optimizer = memory._sgd(net)
    clip, labels = torch.randn(shape), torch.zeros(shape[0], dtype=torch.long)
    memory.train_step(net, optimizer, clip, labels, "fp32")  # momentum buffers now exist
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        memory.train_step(net, optimizer, clip, labels, "fp32")
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    current = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        current += event.nbytes()
        peak = max(peak, current)
    return peak


@pytest.mark.parametrize("name", ["tsn", "blvnet_tam"])
def test_estimate_matches_a_real_cpu_training_step(name: str) -> None:
    overrides = {**SMALL, **({"beta": 2} if name == "blvnet_tam" else {})}
    shape = zoo.resolve_config(name, **overrides)
    shape = (2, 3, shape.num_frames, shape.image_size, shape.image_size)
    with memory.FakeTensorMode():
        fake = zoo.create_model(name, **overrides)
        estimate = memory._fake_peak(fake, shape, 10, "fp32", train=True)
    resident = estimate["Parameter"] + estimate["Optstate"] + estimate["Buffer"]
    clip_bytes = 4 * torch.Size(shape).numel()  # the input exists before the step, too
    estimated_step = estimate["Total"] - resident - clip_bytes
    measured_step = profiler_step_peak(zoo.create_model(name, **overrides).train(), shape)
    assert estimated_step == pytest.approx(measured_step, rel=0.15)


def test_estimate_record_is_consistent() -> None:
    name, overrides = "blvnet_tam", tiny_overrides("blvnet_tam")
    spec = zoo.create_model(name, **overrides).input_spec
    record = memory.estimate(lambda: zoo.create_model(name, **overrides), spec.shape, 3,
                             budget_bytes=64 * 2**20, num_classes=5)
    assert record.method == "estimate" and record.max_batch_method == "fit"
    assert 0 < record.infer_peak_bytes < record.train_peak_bytes  # never 0 on a CPU
    assert record.per_clip_bytes > 0 and record.fixed_bytes > 0
    predicted = record.fixed_bytes + 3 * record.per_clip_bytes
    assert predicted == pytest.approx(record.train_peak_bytes, rel=0.02)  # linear in batch
    assert record.max_batch == (record.budget_bytes - record.fixed_bytes) // record.per_clip_bytes
    kinds = set(record.breakdown)
    assert {"parameters", "gradients", "activations", "optimizer_state"} <= kinds
    assert record.breakdown["optimizer_state"] == record.breakdown["parameters"]  # SGD momentum


def test_linear_fit_and_max_batch_by_hand() -> None:
    fixed, per_clip = memory.linear_fit({1: 300, 2: 500})
    assert (fixed, per_clip) == (100, 200)
    assert memory.predicted_max_batch(100, 200, budget=1000) == 4
    assert memory.predicted_max_batch(100, 200, budget=250) == 0
