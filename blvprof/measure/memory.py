"""Peak memory of inference and of one training step, measured on CUDA or estimated without it.

A training step is forward, cross-entropy, backward and an SGD-momentum step, in steady state
(momentum buffers already allocated). Peak memory grows nearly linearly with the batch, so two
batch sizes give a fixed part and a per-clip part. The largest batch that fits a budget is not
taken from that line alone: peak memory is slightly convex in the batch (a line through batches
1 and 2 lies under the peak further out: 5 of the 56 paper-grid configurations would be one to
four clips over), so it is the largest batch whose own peak fits (``estimate_on``).

* ``measure_cuda``: real peaks from the CUDA caching allocator after a warm-up step, and the largest
  batch whose allocated peak stays within the budget, found by trying batches. Budget, search and
  fit all count *allocated* bytes (what tensors hold, what the estimate predicts); the reserved
  peak (what the caching allocator took from the device) is recorded beside. The search runs in
  a process of its own: its out-of-memory fallbacks may leave cuDNN plans chosen under memory
  pressure, which later measurements in the same process would reuse.
* ``estimate``: the same step on fake tensors (FakeTensorMode on the CPU), so no memory is used,
  counted as torch's MemTracker counts it (``blvprof.measure.peak_tracker``); the peak comes with
  a breakdown by kind. Labelled "estimate".
"""

import copy
import gc
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

import torch
import torch.nn.functional as F
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

from blvprof.measure.flops import TrainFlopCounter
from blvprof.measure.peak_tracker import KINDS, OPTIMIZER_STATE, OTHER, PeakTracker, Timeline
from blvprof.measure.precision import autocast
from blvprof.records import Memory

Build = Callable[[], nn.Module]
ShapeFor = Callable[[int], tuple[int, ...]]  # batch -> input shape
FIT_BATCHES = Memory.fit_batches  # the two batches a fit uses unless a search found larger
CHORD_BATCHES = (2, 4)  # two lean passes whose memory, moment by moment, gives the largest batch
MAX_SEARCH_BATCH = 4096


def linear_fit(peaks: dict[int, int]) -> tuple[int, int]:
    """(fixed, per_clip) bytes from peaks at two batch sizes."""
    (b1, p1), (b2, p2) = sorted(peaks.items())[:2]
    per_clip = max(1, round((p2 - p1) / (b2 - b1)))
    return p1 - per_clip * b1, per_clip


def predicted_max_batch(fixed: int, per_clip: int, budget: int) -> int:
    """Largest batch with fixed + batch × per_clip ≤ budget (0 if not even one clip fits)."""
    return max(0, (budget - fixed) // per_clip)


def max_batch_near(fits: Callable[[int], bool], guess: int) -> int:
    """Largest batch ≥ 1 for which ``fits`` (0 if not even one clip does), found from ``guess``:
    steps of 1, 2, 4, ... away from it until the answer changes, then bisection. ``fits`` must
    be monotone (a batch that fits means every smaller one does). Every batch returned was
    tried; a right guess costs two calls (the guess fits, one more clip does not)."""
    guess = max(1, guess)
    if fits(guess):
        low, step = guess, 1
        while fits(low + step):
            low, step = low + step, 2 * step
        high = low + step
    else:
        high, step = guess, 1
        while high - step >= 1 and not fits(high - step):
            high, step = high - step, 2 * step
        low = max(0, high - step)  # fits, or 0: not even one clip
    return _bisect(fits, low, high)


def _bisect(fits: Callable[[int], bool], low: int, high: int) -> int:
    """Largest batch in [low, high) that fits, given that ``low`` fits (or is 0) and ``high``
    does not."""
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


def chord_max_batch(low: int, low_in_use: Sequence[int], high: int, high_in_use: Sequence[int],
                    budget: int) -> int | None:
    """Largest batch whose peak stays within ``budget`` if the memory in use at each moment of
    a pass follows the line through its values in two passes of the same ops at batches
    ``low`` < ``high`` (``Timeline.in_use``, moment by moment); ``low - 1`` if the peak at
    ``low`` is over, None if no moment grows with the batch. Exact where every moment's memory
    is linear in the batch."""
    best = None
    for at_low, at_high in zip(low_in_use, high_in_use, strict=True):
        if at_low > budget:
            return low - 1
        if at_high > at_low:
            batch = low + (budget - at_low) * (high - low) // (at_high - at_low)
            best = batch if best is None else min(best, batch)
    return best


def linear_between(low: int, low_pass: Timeline, high: int, high_pass: Timeline) -> bool:
    """Whether two passes at batches ``low`` < ``high`` ran the same ops and made the same
    storages, none growing faster than the batch: a storage of c + k × batch bytes (c, k ≥ 0)
    has c = (high × bytes at low − low × bytes at high) / (high − low) ≥ 0, one that grows with
    the batch's square (an N × N temporary) gives c < 0 unless a constant part hides it."""
    return (len(low_pass.in_use) == len(high_pass.in_use)
            and len(low_pass.new_storages) == len(high_pass.new_storages)
            and all(high * at_low >= low * at_high
                    for at_low, at_high in zip(low_pass.new_storages, high_pass.new_storages,
                                               strict=True)))


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
    timeline: Timeline | None = None,
) -> dict[str, int]:
    """The peak (bytes by MemTracker's kind, and 'Total') of one step of a model on fake
    tensors; ``counter`` (a training step only) counts the step's FLOPs meanwhile. Without
    ``by_kind``, the 'Total' alone; ``timeline`` gets what the pass held over time. A training
    step's optimizer step is not run: its peak is the memory in use at its start plus its one
    temporary (``_sgd_step_temporary_bytes``)."""
    model.train(train)
    clip = torch.zeros(shape)
    optimizer = _sgd(model)
    if train:  # steady state: momentum buffers exist before the step (SGD makes one per
        for p in model.parameters():  # parameter that gets a gradient: none for frozen ones)
            if p.requires_grad:
                optimizer.state[p]["momentum_buffer"] = torch.zeros_like(p)
    tracker = PeakTracker(by_kind, counter, timeline)
    # what MemTracker's track_external(model, optimizer, clip) labels
    tracker.label_module(model)
    tracker.label(OPTIMIZER_STATE, *(t for state in optimizer.state.values()
                                      for t in state.values() if isinstance(t, torch.Tensor)))
    tracker.label(OTHER, clip)

    def step_without_its_ops() -> None:
        tracker.note_peak(_sgd_step_temporary_bytes(model), OPTIMIZER_STATE)

    with tracker:
        if train:
            labels = torch.zeros(shape[0], dtype=torch.long) % num_classes
            train_step(model, optimizer, clip, labels, precision,
                       counter.end_of_forward if counter else None, step_without_its_ops)
        else:
            with torch.no_grad(), autocast("cpu", precision):
                model(clip)
    if not by_kind:
        return {"Total": tracker.peak}
    return {**tracker.peak_by_kind, "Total": tracker.peak}


def estimate(
    build: Build,
    shape_for: ShapeFor,
    batch: int,
    budget_bytes: int,
    num_classes: int,
    precision: str = "fp32",
) -> Memory:
    """Peak memory estimated on fake tensors, as MemTracker counts it: no real memory is used.

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
    FLOPs of the training step at batch 1 (one clip) meanwhile.

    The largest batch is the largest whose own peak fits the budget. A lean pass at batch 4
    beside the fit's at batch 2 (``CHORD_BATCHES``) gives, moment by moment, the line the
    memory in use follows (``chord_max_batch``): exact from batch 2 on where every storage is a
    constant plus a multiple of the batch (as in all 56 paper-grid configurations; at batch 1 a
    2D model's frames are a view, at 2 a copy, one reason the fit through 1 and 2 can be off).
    Where the two passes' ops differ, or a storage grows faster than the batch
    (``linear_between``), passes step from the fit's guess instead (``max_batch_near``).
    """
    peaks: dict[int, int] = {}
    timelines: dict[int, Timeline] = {}
    breakdown: dict[str, int] = {}

    def train_pass(b: int, by_kind: bool = False) -> dict[str, int]:
        timeline = Timeline() if b in CHORD_BATCHES else None
        snapshot = _fake_peak(model, shape_for(b), num_classes, precision, train=True,
                              counter=counter if b == 1 else None, by_kind=by_kind,
                              timeline=timeline)
        peaks[b] = snapshot["Total"]
        if timeline is not None:
            timelines[b] = timeline
        return snapshot

    def fits(b: int) -> bool:
        if b not in peaks:
            train_pass(b)
        return peaks[b] <= budget_bytes

    for b in sorted({*FIT_BATCHES, *CHORD_BATCHES, batch}):
        snapshot = train_pass(b, by_kind=b == batch)
        if b == batch:
            breakdown = {KINDS.get(k, k): v for k, v in snapshot.items() if k != "Total"}
    infer = _fake_peak(model, shape_for(batch), num_classes, precision, False,
                       by_kind=False)["Total"]
    fixed, per_clip = linear_fit({b: peaks[b] for b in FIT_BATCHES})
    low, high = CHORD_BATCHES
    answer = None
    if linear_between(low, timelines[low], high, timelines[high]):
        answer = chord_max_batch(low, timelines[low].in_use, high, timelines[high].in_use,
                                 budget_bytes)
    if answer is None:
        max_batch = max_batch_near(fits, predicted_max_batch(fixed, per_clip, budget_bytes))
    elif answer < low:  # the peak at batch 2 is over
        max_batch = 1 if fits(1) else 0
    else:
        max_batch = answer
    return Memory(
        method="estimate",
        batch=batch,
        infer_peak_bytes=infer,
        train_peak_bytes=peaks[batch],
        fixed_bytes=fixed,
        per_clip_bytes=per_clip,
        budget_bytes=budget_bytes,
        max_batch=max_batch,
        max_batch_method="estimate_timeline",
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
    return _bisect(fits, low, high)


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
