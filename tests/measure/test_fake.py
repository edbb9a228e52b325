"""One fake build for every fake-tensor measurement gives what the separate measurements give."""

import gc

import pytest
from torch.utils._python_dispatch import TorchDispatchMode

import model as zoo
from blvprof.measure import fake, flops, memory
from tests.tiny import tiny_overrides


@pytest.mark.parametrize("name, changes, batch", [
    ("tsn", {}, 1),  # the requested batch is a fit batch: two training passes
    ("blvnet_tam", {}, 3),  # three training passes, the count in the first
    ("blvnet_tam", {"reference": True}, 1),
    ("i3d", {}, 3),
])
def test_one_fake_build_measures_what_separate_ones_do(name, changes, batch) -> None:
    overrides = tiny_overrides(name, **changes)
    shape = zoo.create_model(name, **overrides).input_spec.shape

    def build():
        return zoo.create_model(name, **overrides)

    asked = fake.MemoryAsked(batch, budget_bytes=2**30, num_classes=5)
    together = fake.measure_fake(build, shape, True, True, asked)
    assert together.flops == flops.count_flops(build, shape(1))
    assert together.memory == memory.estimate(build, shape, batch, 2**30, 5)
    assert together.params == flops.parameter_count(build())
    alone = fake.measure_fake(build, shape, False, True, None)  # no memory pass to count in
    assert (alone.params, alone.memory, alone.flops) == (None, None, together.flops)


def test_counting_inside_the_memory_step_splits_forward_from_backward() -> None:
    overrides = tiny_overrides("tsn")
    shape = zoo.create_model("tsn", **overrides).input_spec.shape
    counter = flops.TrainFlopCounter()
    with pytest.raises(RuntimeError, match="before end_of_forward"):
        counter.count()
    with memory.FakeTensorMode():
        memory._fake_peak(zoo.create_model("tsn", **overrides), shape(1), 5, "fp32", True,
                          counter)
    counted = counter.count()
    assert counted.forward_flops > 0
    assert counted.backward_flops > counted.forward_flops  # input and weight gradients
    assert counted.train_flops == counted.forward_flops + counted.backward_flops


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_paused_and_restored(enabled) -> None:
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with fake.gc_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_a_fake_build_skips_initialisation_and_keeps_every_shape() -> None:
    class Seen(TorchDispatchMode):  # below the skipping mode: sees what it lets through
        def __init__(self) -> None:
            super().__init__()
            self.ops: set[object] = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.add(func)
            return func(*args, **(kwargs or {}))

    overrides = tiny_overrides("blvnet_tam")
    with memory.FakeTensorMode(), Seen() as seen:
        skipped = fake.build_fake(lambda: zoo.create_model("blvnet_tam", **overrides))
    with memory.FakeTensorMode():
        built = zoo.create_model("blvnet_tam", **overrides)
    assert not seen.ops & fake._InitialisationSkipped.SKIPPED
    assert seen.ops  # the tensors were still made
    assert [(n, p.shape) for n, p in skipped.named_parameters()] == [
        (n, p.shape) for n, p in built.named_parameters()]
    assert [(n, b.shape) for n, b in skipped.named_buffers()] == [
        (n, b.shape) for n, b in built.named_buffers()]
