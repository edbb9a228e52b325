"""Peak memory of inference and of one training step, measured on CUDA or estimated without it.

A training step is forward, cross-entropy, backward and an SGD-momentum step, in steady state
(momentum buffers already allocated). Peak memory grows linearly with the batch, so two batch sizes
give a fixed part and a per-clip part, and from them the largest batch that fits a budget.

* ``measure_cuda``: real peaks from the CUDA caching allocator after a warm-up step, and the largest
  batch whose allocated peak stays within the budget, found by trying batches. Budget, search and
  fit all count *allocated* bytes (what tensors hold, what the estimate predicts); the reserved
  peak (what the caching allocator took from the device) is recorded beside. The search runs in
  a process of its own: its out-of-memory fallbacks may leave cuDNN plans chosen under memory
  pressure, which later measurements in the same process would reuse.
* ``estimate``: torch's MemTracker under FakeTensorMode on the CPU — the same step on fake
  tensors, so no memory is used; the peak comes with a breakdown by kind. Labelled "estimate".
"""

import contextlib
import copy
import gc
import multiprocessing
import weakref
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import torch
import torch.nn.functional as F
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.distributed._tools.common_utils import get_untyped_storages
from torch.distributed._tools.mem_tracker import MemTracker
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.weak import WeakIdKeyDictionary

from blvprof.measure.flops import TrainFlopCounter
from blvprof.measure.precision import autocast
from blvprof.records import Memory

Build = Callable[[], nn.Module]
ShapeFor = Callable[[int], tuple[int, ...]]  # batch -> input shape
FIT_BATCHES = Memory.fit_batches  # the two batches a fit uses unless a search found larger
MAX_SEARCH_BATCH = 4096
_KINDS = {  # MemTracker's reference kinds -> our breakdown keys
    "Parameter": "parameters",
    "Buffer": "buffers",
    "Gradient": "gradients",
    "Activation": "activations",
    "Temp": "temporaries",
    "Optstate": "optimizer_state",
    "Other": "other",
}


class _PeakTracker(MemTracker):
    """MemTracker that keeps only the global peak: per-module peaks cost O(modules) per op.

    MemTracker calls ``_update_peak_stats`` after every op; its per-module loop dominated the run
    time (60 % for a ResNet-101 clip). Tensor classification (activation, gradient, ...) is
    unaffected: it happens in MemTracker's module hooks. (Its per-module statistics are never
    read here, so nothing else depends on what they hold.)
    """

    def _update_peak_stats(self, peak_state: object) -> None:
        for device, snapshot in self._curr_mem_snap.items():
            if self._peak_mem.get(device, 0) < snapshot["Total"]:
                self._peak_mem[device] = snapshot["Total"]
                self._peak_mem_snap[device] = dict(snapshot)

    def get_tracker_snapshot(self, type: str = "current") -> dict[torch.device, dict[str, int]]:
        """MemTracker's snapshot, copied two levels deep instead of by ``copy.deepcopy``: its
        module hooks take one per module call (bytes by kind, plain ints), and deepcopy was
        the slowest part of them."""
        snapshots = {"current": self._curr_mem_snap, "peak": self._peak_mem_snap}[type]
        return {device: dict(by_kind) for device, by_kind in snapshots.items()}


class _TotalPeak(TorchDispatchMode):
    """The peak of MemTracker's "Total" without its classification by kind, for the passes whose
    breakdown is not reported (the fit's other batch, inference): about a third faster.

    It counts what MemTracker counts: the storages of the tensors tracked before the pass
    (``track``) and of every op's outputs, from creation until they die, at the bytes MemTracker
    gives a storage on a CPU; the peak is taken after each op, as MemTracker takes it. A
    training pass leaves out the optimizer step's ops and adds its one temporary instead
    (``_sgd_step_temporary_bytes``). ``tests/measure/test_memory.py`` holds the two peaks to the
    byte on every model family, and on a model whose peak is the step's.
    """

    def __init__(self) -> None:
        super().__init__()
        self._bytes: WeakIdKeyDictionary = WeakIdKeyDictionary()  # storage -> [bytes]
        self.total = self.peak = 0

    def track(self, *tensors: torch.Tensor) -> None:
        for tensor in tensors:
            for storage in get_untyped_storages(tensor):
                held = self._bytes.get(storage)
                if held is None:
                    held = [0]
                    self._bytes[storage] = held
                    weakref.finalize(storage, self._free, held)
                self.total += storage.nbytes() - held[0]
                held[0] = storage.nbytes()
        self.peak = max(self.peak, self.total)

    def _free(self, held: list[int]) -> None:
        self.total -= held[0]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        result = func(*args, **(kwargs or {}))
        self.track(*(t for t in tree_leaves(result) if isinstance(t, torch.Tensor)))
        return result


def linear_fit(peaks: dict[int, int]) -> tuple[int, int]:
    """(fixed, per_clip) bytes from peaks at two batch sizes."""
    (b1, p1), (b2, p2) = sorted(peaks.items())[:2]
    per_clip = max(1, round((p2 - p1) / (b2 - b1)))
    return p1 - per_clip * b1, per_clip


def predicted_max_batch(fixed: int, per_clip: int, budget: int) -> int:
    """Largest batch with fixed + batch × per_clip ≤ budget (0 if not even one clip fits)."""
    return max(0, (budget - fixed) // per_clip)


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    clip: torch.Tensor,
    labels: torch.Tensor,
    precision: str,
    after_forward: Callable[[], None] | None = None,
    optimizer_step: Callable[[], None] | None = None,
) -> None:
    """Forward, cross-entropy, backward, ``optimizer_step`` (default: the optimizer's step),
    gradients freed."""
    with autocast(clip.device.type, precision):
        loss = F.cross_entropy(model(clip), labels)
    if after_forward is not None:
        after_forward()
    loss.backward()
    (optimizer_step or optimizer.step)()
    optimizer.zero_grad(set_to_none=True)


def _sgd(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)


def _sgd_step_temporary_bytes(model: nn.Module) -> int:
    """What ``_sgd``'s step adds to the memory in use at its start, at its peak.

    Parameter by parameter, torch's SGD updates the momentum buffer and the parameter in place;
    with Nesterov momentum it also makes ``grad + momentum × buffer``, a parameter-sized
    temporary freed before the next parameter's. So the step's peak is the memory at its start
    plus the largest parameter that has a gradient, whatever the batch: a lean pass adds that
    instead of dispatching the step's ~1,500 ops (a third of a training pass on fake tensors).
    ``tests/measure/test_memory.py`` holds it to MemTracker's peak of the real step.
    """
    return max((p.untyped_storage().nbytes() for p in model.parameters() if p.grad is not None),
               default=0)


def _fake_peak(
    model: nn.Module,
    shape: tuple[int, ...],
    num_classes: int,
    precision: str,
    train: bool,
    counter: TrainFlopCounter | None = None,
    by_kind: bool = True,
) -> dict[str, int]:
    """MemTracker's peak (bytes by kind and 'Total') for one step of a model on fake tensors;
    ``counter`` (a training step only) counts the step's FLOPs meanwhile. Without ``by_kind``,
    the 'Total' alone (``_TotalPeak``)."""
    model.train(train)
    clip = torch.zeros(shape)
    optimizer = _sgd(model)
    if train:  # steady state: momentum buffers exist before the step
        for p in model.parameters():
            optimizer.state[p]["momentum_buffer"] = torch.zeros_like(p)
    if by_kind:
        tracker: MemTracker | _TotalPeak = _PeakTracker()
        tracker.track_external(model, optimizer, clip)
    else:
        tracker = _TotalPeak()
        tracker.track(*model.parameters(), *model.buffers(), clip,
                      *(p.grad for p in model.parameters() if p.grad is not None),
                      *(t for state in optimizer.state.values() for t in state.values()
                        if isinstance(t, torch.Tensor)))
    step_peaks: list[int] = []  # a lean pass's optimizer step, as its peak (no ops run)

    def lean_step() -> None:
        step_peaks.append(tracker.total + _sgd_step_temporary_bytes(model))

    with tracker, counter.mode if counter else contextlib.nullcontext():
        if train:
            labels = torch.zeros(shape[0], dtype=torch.long) % num_classes
            train_step(model, optimizer, clip, labels, precision,
                       counter.end_of_forward if counter else None,
                       lean_step if isinstance(tracker, _TotalPeak) else None)
        else:
            with torch.no_grad(), autocast("cpu", precision):
                model(clip)
    if isinstance(tracker, _TotalPeak):
        return {"Total": max([tracker.peak, *step_peaks])}
    totals: dict[str, int] = {}
    for by_kind in tracker.get_tracker_snapshot("peak").values():
        for kind, n_bytes in by_kind.items():
            key = str(getattr(kind, "value", kind))
            totals[key] = totals.get(key, 0) + n_bytes
    return totals


def estimate(
    build: Build,
    shape_for: ShapeFor,
    batch: int,
    budget_bytes: int,
    num_classes: int,
    precision: str = "fp32",
) -> Memory:
    """Peak memory estimated with MemTracker on fake tensors: no real memory is used.

    ``build`` is called once, under FakeTensorMode, so no weights are allocated either.
    """
    with FakeTensorMode():
        return estimate_on(build(), shape_for, batch, budget_bytes, num_classes, precision)


def estimate_on(
    model: nn.Module,
    shape_for: ShapeFor,
    batch: int,
    budget_bytes: int,
    num_classes: int,
    precision: str = "fp32",
    counter: TrainFlopCounter | None = None,
) -> Memory:
    """``estimate`` of a model built under the current FakeTensorMode; ``counter`` counts the
    FLOPs of the training step at batch 1 (one clip) meanwhile."""
    peaks = {}
    breakdown: dict[str, int] = {}
    for b in sorted({*FIT_BATCHES, batch}):
        snapshot = _fake_peak(model, shape_for(b), num_classes, precision, train=True,
                              counter=counter if b == 1 else None, by_kind=b == batch)
        peaks[b] = snapshot["Total"]
        if b == batch:
            breakdown = {_KINDS.get(k, k): v for k, v in snapshot.items() if k != "Total"}
    infer = _fake_peak(model, shape_for(batch), num_classes, precision, False,
                       by_kind=False)["Total"]
    fixed, per_clip = linear_fit(peaks)
    return Memory(
        method="estimate",
        batch=batch,
        infer_peak_bytes=infer,
        train_peak_bytes=peaks[batch],
        fixed_bytes=fixed,
        per_clip_bytes=per_clip,
        budget_bytes=budget_bytes,
        max_batch=predicted_max_batch(fixed, per_clip, budget_bytes),
        max_batch_method="fit",
        breakdown=breakdown,
    )


def _cuda_peaks(step: Callable[[], None]) -> tuple[int, int]:
    """(allocated, reserved) peak bytes of ``step``, run once to warm up and once measured."""
    step()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated(), torch.cuda.max_memory_reserved()


def _cuda_train_peaks(
    model: nn.Module, shape: tuple[int, ...], num_classes: int, precision: str
) -> tuple[int, int]:
    """Peaks of a steady-state training step; its tensors are freed when this returns."""
    model.train()
    optimizer = _sgd(model)
    clip = torch.randn(shape, device="cuda")
    labels = torch.randint(0, num_classes, (shape[0],), device="cuda")

    def step() -> None:
        train_step(model, optimizer, clip, labels, precision)

    try:
        return _cuda_peaks(step)
    finally:
        optimizer.zero_grad(set_to_none=True)
        optimizer.state.clear()


def _free_cuda() -> None:
    gc.collect()
    torch.cuda.empty_cache()


def allocated_peak_within(
    model: nn.Module, shape: tuple[int, ...], num_classes: int, precision: str, budget: int
) -> tuple[int, int] | None:
    """(allocated, reserved) peaks of a training step at this shape if its allocated peak is
    within ``budget``; None if it is not, or if the device ran out of memory first."""
    try:
        peaks = _cuda_train_peaks(model, shape, num_classes, precision)
    except torch.cuda.OutOfMemoryError:
        peaks = None
    finally:
        _free_cuda()  # after the frame holding the failed step's tensors is gone
    return peaks if peaks is not None and peaks[0] <= budget else None


def search_max_batch(fits: Callable[[int], bool], limit: int = MAX_SEARCH_BATCH) -> int:
    """Largest batch in [0, limit] for which ``fits``: doubling, then bisection. Every batch
    returned was tried; ``limit`` itself means "at least limit"."""
    low, high = 0, 1
    while fits(high):
        low = high
        if high == limit:
            return limit
        high = min(2 * high, limit)
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


def _search(
    model: nn.Module,
    shape: tuple[int, ...],
    num_classes: int,
    precision: str,
    budget: int,
    device: int,
) -> tuple[int, dict[int, tuple[int, int]]]:
    """Max batch and the (allocated, reserved) peaks of the batches that fitted, on ``device``;
    ``shape`` is the input's at any batch. Runs in its own process (see ``measure_cuda``)."""
    torch.cuda.set_device(device)
    model.cuda().train()
    peaks: dict[int, tuple[int, int]] = {}

    def fits(batch: int) -> bool:
        measured = allocated_peak_within(model, (batch, *shape[1:]), num_classes, precision, budget)
        if measured is not None:
            peaks[batch] = measured
        return measured is not None

    return search_max_batch(fits), peaks


def _search_in_own_process(
    model: nn.Module, shape: tuple[int, ...], num_classes: int, precision: str, budget: int
) -> tuple[int, dict[int, tuple[int, int]]]:
    """``_search`` in a fresh spawned process, given a CPU copy of the model (a CUDA tensor
    would be shared with this process, and its bytes not counted there)."""
    on_cpu = copy.deepcopy(model).cpu()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        job = pool.submit(
            _search, on_cpu, shape, num_classes, precision, budget, torch.cuda.current_device()
        )
        return job.result()


def measure_cuda(
    model: nn.Module,
    shape_for: ShapeFor,
    batch: int,
    budget_bytes: int,
    num_classes: int,
    precision: str = "fp32",
) -> Memory:
    """Measured peaks on the current CUDA device, and the largest batch whose allocated peak is
    within ``budget_bytes`` (at most the device's memory).

    Fixed and per-clip bytes are fitted on the two largest batches the search found to fit,
    where batch-dependent cuDNN workspaces weigh least (on batches 1 and 2 if fewer fitted).
    """
    was_training = model.training
    total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
    budget = min(budget_bytes, total)
    max_batch, searched = _search_in_own_process(
        model, shape_for(1), num_classes, precision, budget
    )
    model.cuda()
    try:
        model.eval()
        infer_alloc, infer_reserved = _cuda_infer_peaks(model, shape_for(batch), precision)
        model.train()
        peaks = dict(searched)
        for b in sorted({*FIT_BATCHES, batch} - set(peaks)):
            peaks[b] = _cuda_train_peaks(model, shape_for(b), num_classes, precision)
            _free_cuda()
    finally:
        model.train(was_training)
    fit_batches = tuple(sorted(searched)[-2:]) if len(searched) >= 2 else FIT_BATCHES
    fixed, per_clip = linear_fit({b: peaks[b][0] for b in fit_batches})
    return Memory(
        method="cuda",
        batch=batch,
        infer_peak_bytes=infer_alloc,
        train_peak_bytes=peaks[batch][0],
        fixed_bytes=fixed,
        per_clip_bytes=per_clip,
        budget_bytes=budget,
        max_batch=max_batch,
        max_batch_method="search",
        infer_reserved_bytes=infer_reserved,
        train_reserved_bytes=peaks[batch][1],
        requested_budget_bytes=budget_bytes if budget < budget_bytes else None,
        fit_batches=fit_batches,
    )


def _cuda_infer_peaks(model: nn.Module, shape: tuple[int, ...], precision: str) -> tuple[int, int]:
    clip = torch.randn(shape, device="cuda")

    def forward() -> None:
        with torch.no_grad(), autocast("cuda", precision):
            model(clip)

    return _cuda_peaks(forward)
