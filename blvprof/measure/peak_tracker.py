"""Counting the memory of one pass on fake tensors, by kind, as torch's MemTracker counts it.

``PeakTracker`` is a dispatch mode: every storage of a labelled tensor or of an op's output
counts from creation until it dies, and the peak (with its breakdown by kind) is taken after
each op. It is the memory estimate's counter (``blvprof.measure.memory``); it can count FLOPs in
the same dispatch (``blvprof.measure.flops.TrainFlopCounter``).
"""

import weakref
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode, is_traceable_wrapper_subclass
from torch.utils._pytree import tree_leaves
from torch.utils.weak import WeakIdKeyDictionary

from blvprof.measure.flops import TrainFlopCounter

# MemTracker's kinds of reference, in its order, with our breakdown's keys
KINDS = {
    "Parameter": "parameters",
    "Buffer": "buffers",
    "Gradient": "gradients",
    "Activation": "activations",
    "Temp": "temporaries",
    "Optstate": "optimizer_state",
    "Other": "other",
}
PARAMETER, BUFFER, GRADIENT, ACTIVATION, TEMPORARY, OPTIMIZER_STATE, OTHER = KINDS


def _storages(tensor: torch.Tensor) -> list[torch.UntypedStorage]:
    """The storages behind a tensor: its own, or those of a wrapper subclass's inner tensors."""
    if not is_traceable_wrapper_subclass(tensor):
        return [tensor.untyped_storage()]
    attributes, _ = tensor.__tensor_flatten__()
    inner = (getattr(tensor, a) for a in attributes)
    return [s for t in inner if isinstance(t, torch.Tensor) for s in _storages(t)]


@dataclass
class Timeline:
    """What one pass held over time: the memory in use at each moment the peak is taken (after
    each op), and the bytes of each storage as it was created, in order."""

    in_use: list[int] = field(default_factory=list)
    new_storages: list[int] = field(default_factory=list)


class PeakTracker(TorchDispatchMode):
    """Peak bytes of one pass on fake tensors, by kind as torch's MemTracker classifies them.

    It counts what MemTracker counts, at a fraction of its cost: the storages of the tensors
    ``label``-ed before the pass and of every op's outputs, from creation until they die (a
    storage's bytes on a CPU), the peak taken after each op. Kinds follow MemTracker's rules:
    an op's new outputs are activations, or temporaries while the autograd engine runs (except
    in a module's forward re-run there: activation checkpointing); a parameter's gradient is
    relabelled as it reaches the parameter; a module's parameters and buffers are labelled at
    its first call. What it leaves out is what this estimate never reads: MemTracker's
    per-module snapshots and the module tracking behind them (hooks on every module's inputs
    and outputs), which were most of its time. Without ``by_kind``, the total alone, with no
    module or gradient hooks at all.

    ``timeline`` gets the memory in use at each of those moments (after each op) and each new
    storage's bytes, from which ``blvprof.measure.memory`` reads the peak at other batches.

    ``counter`` counts the FLOPs of the same ops meanwhile, in the one dispatch (as
    FlopCounterMode would above it). A training pass leaves out the optimizer step's ops and
    adds its one temporary instead (``note_peak``, from ``blvprof.measure.memory._fake_peak``).
    ``tests/measure/test_memory.py`` holds the peak and its breakdown to MemTracker's, to the
    byte, on every model family, in training (with the real step) and inference.
    """

    def __init__(self, by_kind: bool = True, counter: TrainFlopCounter | None = None,
                 timeline: Timeline | None = None) -> None:
        super().__init__()
        self.by_kind, self.counter, self.timeline = by_kind, counter, timeline
        self._held: WeakIdKeyDictionary = WeakIdKeyDictionary()  # storage -> [bytes, kind]
        self.current = dict.fromkeys(KINDS, 0)
        self.total = self.peak = 0
        self.peak_by_kind = dict(self.current)
        self._seen_modules: weakref.WeakSet[nn.Module] = weakref.WeakSet()
        self._hooked: set[int] = set()  # ids of parameters whose gradients get relabelled
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._rerun_by: weakref.ref[nn.Module] | None = None  # re-running its forward in backward
        self._depth = 0

    def label(self, kind: str, *tensors: torch.Tensor | None) -> None:
        """Count tensors created before the pass (or relabel them) as ``kind``."""
        for tensor in tensors:
            if tensor is None:
                continue
            for storage in _storages(tensor):
                held = self._held.get(storage)
                if held is None:
                    self._add(storage, kind)
                elif held[1] != kind:
                    self.current[held[1]] -= held[0]
                    self.current[kind] += held[0]
                    held[1] = kind

    def _add(self, storage: torch.UntypedStorage, kind: str) -> None:
        n_bytes = storage.nbytes()
        if self.timeline is not None:
            self.timeline.new_storages.append(n_bytes)
        held = [n_bytes, kind]
        self._held[storage] = held
        weakref.finalize(storage, self._free, held)
        self.total += n_bytes
        self.current[kind] += n_bytes

    def _free(self, held: list) -> None:
        self.total -= held[0]
        self.current[held[1]] -= held[0]

    def _track_output(self, kind: str, tensor: torch.Tensor) -> None:
        """MemTracker's ``_track``: a new storage is counted; a known one only changes size
        (and, as there, the tensor's further storages are then left alone)."""
        for storage in _storages(tensor):
            held = self._held.get(storage)
            if held is None:
                self._add(storage, kind)
                continue
            change = storage.nbytes() - held[0]
            if change:
                held[0] += change
                self.total += change
                self.current[held[1]] += change
            return

    def note_peak(self, extra_bytes: int = 0, extra_kind: str = OPTIMIZER_STATE) -> None:
        """Take the memory in use (plus ``extra_bytes`` of ``extra_kind``) as the peak if it is
        higher than every earlier one; the ``timeline``, if any, gets it either way."""
        if self.timeline is not None:
            self.timeline.in_use.append(self.total + extra_bytes)
        if self.total + extra_bytes > self.peak:
            self.peak = self.total + extra_bytes
            if self.by_kind:
                self.peak_by_kind = dict(self.current)
                self.peak_by_kind[extra_kind] += extra_bytes

    def label_module(self, module: nn.Module) -> None:
        """Label a module's parameters, their gradients and its buffers (as MemTracker's
        ``track_external`` and its first call of each module do)."""
        for parameter in module.parameters():
            self.label(PARAMETER, parameter)
            self.label(GRADIENT, parameter.grad)
        self.label(BUFFER, *module.buffers())

    def _module_starts(self, module: nn.Module, _: object) -> None:
        if module not in self._seen_modules:
            self._seen_modules.add(module)
            self.label_module(module)
            for parameter in module.parameters():
                self._relabel_gradients_of(parameter)
        elif in_backward() and self._rerun_by is None:
            self._rerun_by = weakref.ref(module)

    def _module_ends(self, module: nn.Module, _: object, __: object) -> None:
        if in_backward() and self._rerun_by is not None and self._rerun_by() is module:
            self._rerun_by = None

    def _relabel_gradients_of(self, parameter: nn.Parameter) -> None:
        if id(parameter) in self._hooked or not parameter.requires_grad:
            return
        self._hooked.add(id(parameter))
        self._handles += [
            parameter.register_hook(lambda grad: self.label(GRADIENT, grad)),
            parameter.register_post_accumulate_grad_hook(
                lambda p: self.label(GRADIENT, p.grad)),
        ]

    def __enter__(self) -> "PeakTracker":
        if self._depth == 0:  # not when re-entered to dispatch an op's decomposition
            self.peak, self.peak_by_kind = self.total, dict(self.current)
            if self.by_kind:
                self._handles += [
                    register_module_forward_pre_hook(self._module_starts),
                    register_module_forward_hook(self._module_ends, always_call=True)]
        self._depth += 1
        return super().__enter__()

    def __exit__(self, *args: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            for handle in self._handles:
                handle.remove()
            self._handles.clear()
            self._hooked.clear()
        super().__exit__(*args)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if func is _DEVICE:  # over half the ops of a pass, mostly the autograd engine's; no tensor
            return func(*args, **kwargs)
        counter = self.counter
        if counter is not None:
            result = counter.decomposed(self, func, args, kwargs)
            if result is not NotImplemented:
                return result
        result = func(*args, **kwargs)
        kind = TEMPORARY if in_backward() and self._rerun_by is None else ACTIVATION
        for tensor in tree_leaves(result):
            if isinstance(tensor, torch.Tensor):
                self._track_output(kind, tensor)
        if counter is not None:
            counter.add(func, args, kwargs, result)
        self.note_peak()
        return result


_DEVICE = torch.ops.prim.device.default


def in_backward() -> bool:
    """Whether the autograd engine is running (MemTracker's test for "in backward")."""
    return torch._C._current_graph_task_id() != -1
