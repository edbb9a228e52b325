"""Memory: the fake-tensor estimate against an independent CPU measurement, and the fit."""

import contextlib

import pytest
import torch
from torch.distributed._tools.mem_tracker import MemTracker
from torch.profiler import ProfilerActivity, profile
from torch.utils.checkpoint import checkpoint
from torch.utils.flop_counter import FlopCounterMode

import model as zoo
from blvprof.measure import memory
from blvprof.measure.flops import TrainFlopCounter, conv_backward_flop
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
    assert record.method == "estimate" and record.max_batch_method == "estimate_timeline"
    assert 0 < record.infer_peak_bytes < record.train_peak_bytes  # never 0 on a CPU
    assert record.per_clip_bytes > 0 and record.fixed_bytes > 0
    predicted = record.fixed_bytes + 3 * record.per_clip_bytes
    assert predicted == pytest.approx(record.train_peak_bytes, rel=0.02)  # linear in batch
    with memory.FakeTensorMode():
        net = zoo.create_model(name, **overrides)
        peak = {b: memory._fake_peak(net, spec.shape(b), 5, "fp32", True, by_kind=False)["Total"]
                for b in (record.max_batch, record.max_batch + 1)}
    assert record.max_batch >= 1
    assert peak[record.max_batch] <= record.budget_bytes < peak[record.max_batch + 1]
    kinds = set(record.breakdown)
    assert {"parameters", "gradients", "activations", "optimizer_state"} <= kinds
    assert record.breakdown["optimizer_state"] == record.breakdown["parameters"]  # SGD momentum


def test_linear_fit_and_max_batch_by_hand() -> None:
    fixed, per_clip = memory.linear_fit({1: 300, 2: 500})
    assert (fixed, per_clip) == (100, 200)
    assert memory.predicted_max_batch(100, 200, budget=1000) == 4
    assert memory.predicted_max_batch(100, 200, budget=250) == 0


class ConvexPeak(torch.nn.Module):
    """A toy whose peak training memory is convex in the batch: an (N² × 256) temporary in the
    forward pass outgrows the line through batches 1 and 2, and fails ``linear_between``."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(256, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        pairs = (x[:, None, :] * x[None, :, :]).reshape(n * n, -1)  # freed within the forward
        return self.fc(x + pairs.sum() * 0)


def test_estimate_takes_the_largest_batch_whose_own_peak_fits_not_the_line() -> None:
    shape_for = lambda b: (b, 256)  # noqa: E731
    with memory.FakeTensorMode():
        net = ConvexPeak()
        peak = {b: memory._fake_peak(net, shape_for(b), 4, "fp32", True, by_kind=False)["Total"]
                for b in range(1, 80)}
    budget = peak[40]
    fixed, per_clip = memory.linear_fit({1: peak[1], 2: peak[2]})
    assert memory.predicted_max_batch(fixed, per_clip, budget) > 45  # the line is well off
    record = memory.estimate(ConvexPeak, shape_for, 1, budget_bytes=budget, num_classes=4)
    assert record.max_batch == 40 and record.max_batch_method == "estimate_timeline"
    record = memory.estimate(ConvexPeak, shape_for, 1, budget_bytes=peak[1] - 1, num_classes=4)
    assert record.max_batch == 0  # not even one clip


def _counting_training_passes(monkeypatch) -> list[int]:
    """The batches of the training passes the estimate makes from now on."""
    batches: list[int] = []
    fake_peak = memory._fake_peak

    def counted(model, shape, num_classes, precision, train, **kwargs):
        if train:
            batches.append(shape[0])
        return fake_peak(model, shape, num_classes, precision, train, **kwargs)

    monkeypatch.setattr(memory, "_fake_peak", counted)
    return batches


def _conv_net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                               torch.nn.Linear(8, 4))


@pytest.mark.parametrize(("build", "shape_for", "fit_is_right"), [
    (_conv_net, lambda b: (b, 3, 16, 16), True),  # linear from batch 1 on
    (lambda: Transposing(64), lambda b: (b, 64, 8), False),  # linear from batch 2 on
])
@pytest.mark.parametrize("budget", [2**19, 2**20, 2**24])
def test_estimate_reads_the_largest_batch_off_its_passes_at_batches_2_and_4(
        monkeypatch, build, shape_for, fit_is_right: bool, budget: int) -> None:
    """Memory linear in the batch from batch 2 on: the line through each moment's memory at
    batches 2 and 4 gives the largest batch whose own peak fits, with no pass near it, where
    the fit through batches 1 and 2 is right and where it is not (at batch 1 the input's
    transpose is a view, at 2 a copy)."""
    with memory.FakeTensorMode():
        net = build()
        peak = {b: memory._fake_peak(net, shape_for(b), 4, "fp32", True, by_kind=False)["Total"]
                for b in (1, 2)}
        largest = memory.max_batch_near(  # the ground truth, pass by pass
            lambda b: memory._fake_peak(net, shape_for(b), 4, "fp32", True,
                                        by_kind=False)["Total"] <= budget, 1)
    guess = memory.predicted_max_batch(*memory.linear_fit(peak), budget)
    assert (guess == largest) is fit_is_right
    passes = _counting_training_passes(monkeypatch)
    record = memory.estimate(build, shape_for, 1, budget_bytes=budget, num_classes=4)
    assert record.max_batch == largest > 4
    assert passes == [1, 2, 4]


def test_linear_between_by_hand() -> None:
    two = memory.Timeline(in_use=[10, 30], new_storages=[8, 20, 12])
    four = memory.Timeline(in_use=[12, 50], new_storages=[8, 40, 20])  # c + k·batch, c ≥ 0
    assert memory.linear_between(2, two, 4, four)
    square = memory.Timeline(in_use=[12, 50], new_storages=[8, 40, 25])  # 12 at 2, 25 at 4
    assert not memory.linear_between(2, two, 4, square)
    other_ops = memory.Timeline(in_use=[12, 50, 50], new_storages=[8, 40, 20])
    assert not memory.linear_between(2, two, 4, other_ops)


class Transposing(torch.nn.Module):
    """(N, C, T) -> frames in the batch, as 2D video models do: a view at N = 1, a copy after."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(channels, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t = x.shape
        frames = x.transpose(1, 2).reshape(n * t, c)
        return self.fc(frames).view(n, t, -1).mean(1)


def test_chord_max_batch_by_hand() -> None:
    # two moments; at batch 2: 100 and 50 bytes, at batch 6: 300 and 450 (slopes 50 and 100)
    low, high = [100, 50], [300, 450]
    assert memory.chord_max_batch(2, low, 6, high, budget=450) == 6  # 50 + 100·4 = 450
    assert memory.chord_max_batch(2, low, 6, high, budget=449) == 5
    assert memory.chord_max_batch(2, low, 6, high, budget=250) == 4  # 50 + 100·2 = 250
    assert memory.chord_max_batch(2, low, 6, high, budget=1000) == 11  # beyond 6: 50 + 100·9
    assert memory.chord_max_batch(2, low, 6, high, budget=99) == 1  # batch 2 is over
    assert memory.chord_max_batch(2, [10, 20], 6, [10, 5], budget=30) is None  # nothing grows


@pytest.mark.parametrize("largest", [0, 1, 2, 3, 7, 40, 41, 1000])
@pytest.mark.parametrize("guess", [0, 1, 2, 5, 40, 41, 42, 500])
def test_max_batch_near_finds_the_largest_fitting_batch_from_any_guess(largest: int,
                                                                       guess: int) -> None:
    tried: list[int] = []
    found = memory.max_batch_near(_probe(largest, tried), guess)
    assert found == largest
    assert found == 0 or found in tried  # the answer was tried, not inferred
    assert 0 not in tried  # batch 0 is never asked for
    if guess == largest >= 1:
        assert tried == [largest, largest + 1]  # a right guess costs two tries


def _probe(largest: int, tried: list[int]):
    """A stand-in for the out-of-memory probe: batches up to ``largest`` fit."""

    def fits(batch: int) -> bool:
        tried.append(batch)
        return batch <= largest

    return fits


@pytest.mark.parametrize("largest", [0, 1, 2, 3, 37, 1000, 4095, 4096, 5000, 10**9])
def test_search_finds_the_largest_fitting_batch_and_never_passes_the_limit(largest: int) -> None:
    tried: list[int] = []
    found = memory.search_max_batch(_probe(largest, tried))
    assert found == min(largest, memory.MAX_SEARCH_BATCH)
    assert max(tried) <= memory.MAX_SEARCH_BATCH  # no batch past the limit is even tried
    assert found == 0 or found in tried  # the answer was tried, not inferred


def test_search_respects_a_small_limit() -> None:
    tried: list[int] = []
    assert memory.search_max_batch(_probe(100, tried), limit=6) == 6
    assert tried == [1, 2, 4, 6]


def test_cuda_record_clamps_the_budget_and_fits_on_the_searched_batches(monkeypatch) -> None:
    """measure_cuda's wiring with stand-ins for the device: a budget above the device's memory
    is recorded as the device's memory (the request kept apart), and the fit uses the two largest
    batches the search found to fit, on allocated bytes as the search did."""
    device_bytes = 10 * 2**30
    peaks = {b: (1000 + 300 * b, 2048 + 512 * b) for b in (1, 2, 4, 6)}  # (allocated, reserved)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(
        torch.cuda, "get_device_properties", lambda _: type("P", (), {"total_memory": device_bytes})
    )
    budgets = []

    def search(model, shape, num_classes, precision, budget):
        budgets.append(budget)
        return 6, peaks

    monkeypatch.setattr(memory, "_search_in_own_process", search)
    monkeypatch.setattr(memory, "_cuda_infer_peaks", lambda *_: (500, 1024))
    monkeypatch.setattr(memory, "_cuda_train_peaks", lambda *_: pytest.fail("already measured"))
    net = torch.nn.Linear(2, 2)
    monkeypatch.setattr(net, "cuda", lambda: net)
    record = memory.measure_cuda(net, lambda b: (b, 3), 4, 12 * 2**30, num_classes=2)
    assert budgets == [device_bytes]
    assert (record.budget_bytes, record.requested_budget_bytes) == (device_bytes, 12 * 2**30)
    assert record.fit_batches == (4, 6)
    assert (record.fixed_bytes, record.per_clip_bytes) == (1000, 300)
    assert (record.train_peak_bytes, record.train_reserved_bytes) == peaks[4]
    assert record.max_batch == 6 and record.max_batch_method == "search"


def memtracker_peak(net: torch.nn.Module, shape: tuple[int, ...], train: bool,
                    flop_counter: FlopCounterMode | None = None) -> dict[str, int]:
    """torch's MemTracker on the step ``memory._fake_peak`` takes, the optimizer step run for
    real: the reference the estimate's own tracker must match, by kind. With ``flop_counter``,
    as the estimate counted before it had its own tracker: FlopCounterMode above MemTracker."""
    net.train(train)
    clip = torch.zeros(shape)
    optimizer = memory._sgd(net)
    if train:
        for p in net.parameters():
            optimizer.state[p]["momentum_buffer"] = torch.zeros_like(p)
    tracker = MemTracker()
    tracker.track_external(net, optimizer, clip)
    with tracker, flop_counter or contextlib.nullcontext():
        if train:
            labels = torch.zeros(shape[0], dtype=torch.long)
            memory.train_step(net, optimizer, clip, labels, "fp32")
        else:
            with torch.no_grad():
                net(clip)
    (peak,) = tracker.get_tracker_snapshot("peak").values()
    return {str(getattr(kind, "value", kind)): n_bytes for kind, n_bytes in peak.items()}


@pytest.mark.parametrize("name", zoo.list_models(families_only=True))
@pytest.mark.parametrize("train", [True, False])
def test_the_peak_and_its_kinds_are_memtrackers(name: str, train: bool) -> None:
    overrides = tiny_overrides(name)
    with memory.FakeTensorMode():
        fake = zoo.create_model(name, **overrides)
        shape = (3, *fake.input_spec.shape(1)[1:])
        reference = memtracker_peak(fake, shape, train)
        by_kind = memory._fake_peak(fake, shape, 5, "fp32", train)
        total = memory._fake_peak(fake, shape, 5, "fp32", train, by_kind=False)
    assert by_kind == reference  # every kind, in MemTracker's order, and the total
    assert total == {"Total": reference["Total"]}


@pytest.mark.parametrize("name", ["blvnet_tam", "i3d"])
def test_counting_flops_in_the_tracker_is_flopcountermode_above_memtracker(name: str) -> None:
    # FlopCounterMode runs some ops as their decompositions, so MemTracker below it sees their
    # parts: the estimate's tracker, counting, must see the same.
    overrides = tiny_overrides(name)
    with memory.FakeTensorMode():
        fake = zoo.create_model(name, **overrides)
        shape = fake.input_spec.shape(2)
        mode = FlopCounterMode(display=False, custom_mapping={
            torch.ops.aten.convolution_backward: conv_backward_flop})
        reference = memtracker_peak(fake, shape, True, flop_counter=mode)
        counter = TrainFlopCounter()
        ours = memory._fake_peak(fake, shape, 5, "fp32", True, counter)
    assert ours == reference
    assert counter.count().train_flops == mode.get_total_flops()


def test_activation_checkpointing_recomputes_activations_as_memtracker_counts_them() -> None:
    class Checkpointed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1),
                                             torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3, padding=1))
            self.head = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8 * 16, 5))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(checkpoint(self.inner, x, use_reentrant=False))

    with memory.FakeTensorMode():
        net = Checkpointed()
        reference = memtracker_peak(net, (4, 3, 4, 4), True)
        ours = memory._fake_peak(net, (4, 3, 4, 4), 5, "fp32", True)
    assert ours == reference


def test_the_peak_adds_the_sgd_step_it_does_not_run() -> None:
    # Weights far larger than the activations: the peak is in the optimizer step (weights,
    # gradients, momentum and Nesterov's temporary of the largest weight).
    with memory.FakeTensorMode():
        net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 4096),
                                  torch.nn.Linear(4096, 5))
        reference = memtracker_peak(net, (2, 3, 4, 4), True)
        by_kind = memory._fake_peak(net, (2, 3, 4, 4), 5, "fp32", train=True)
        total = memory._fake_peak(net, (2, 3, 4, 4), 5, "fp32", train=True, by_kind=False)
    weights = sum(p.numel() * 4 for p in net.parameters())
    largest = 48 * 4096 * 4  # the first layer's weight
    assert by_kind["Total"] >= 3 * weights + largest
    assert by_kind["Optstate"] >= weights + largest  # the temporary is the optimizer's
    assert by_kind == reference
    assert total == {"Total": reference["Total"]}


def test_frozen_parameters_get_no_gradient_and_no_momentum() -> None:
    # A fine-tuning set-up: the first layer frozen. torch's SGD keeps momentum only for the
    # parameters that get gradients (MemTracker itself cannot hook a frozen parameter).
    with memory.FakeTensorMode():
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                  torch.nn.Linear(8 * 14 * 14, 5))
        net[0].requires_grad_(False)
        by_kind = memory._fake_peak(net, (2, 3, 16, 16), 5, "fp32", train=True)
        total = memory._fake_peak(net, (2, 3, 16, 16), 5, "fp32", train=True, by_kind=False)
    trainable = sum(p.numel() * 4 for p in net[3].parameters())
    frozen = sum(p.numel() * 4 for p in net[0].parameters())
    assert by_kind["Parameter"] == trainable + frozen
    assert by_kind["Gradient"] == trainable
    assert by_kind["Optstate"] == trainable + net[3].weight.numel() * 4  # momentum + Nesterov's
    assert total == {"Total": by_kind["Total"]}
