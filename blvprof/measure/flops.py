"""Counting MACs and FLOPs, two independent ways.

* fvcore (the primary count, the paper's convention): one "flop" in fvcore is one multiply-add, so
  its conv/linear/matmul counts are MACs. fvcore also counts batch norm, upsampling and adaptive
  pooling (about +0.5 %); those are kept apart as ``fvcore_macs``. Ops it cannot count are listed,
  never dropped.
* torch.utils.flop_counter.FlopCounterMode's count (the cross-check): 2 FLOPs per MAC, forward and
  backward, on fake tensors (no memory, no compute), by its formulas in a lean mode of our own
  (``TrainFlopCounter``). Its backward formula for grouped convolutions counts the
  weight gradient ``groups`` times too often in torch 2.13; ``conv_backward_flop`` corrects it.
"""

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from math import prod
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import conv_flop_count, flop_registry, shape_wrapper

# fvcore handle names whose counts are multiply-accumulates of a matrix product or convolution.
MAC_OPERATORS = frozenset({"conv", "linear", "matmul", "addmm", "bmm", "einsum"})
aten = torch.ops.aten


@dataclass(frozen=True)
class MacCount:
    """fvcore's count of one forward pass, per clip."""

    macs: int  # conv + linear + matmul
    fvcore_macs: int  # everything fvcore counts (adds batch norm, upsampling, pooling)
    by_operator: dict[str, int]
    unsupported_ops: dict[str, int]  # ops fvcore saw but could not count, with how often
    by_module: dict[str, int]  # MACs per module, to the requested depth (empty if not asked)


@dataclass(frozen=True)
class FlopCount:
    """FlopCounterMode's count (2 FLOPs per MAC), per clip."""

    forward_flops: int
    backward_flops: int
    train_flops: int  # forward + backward
    by_operator: dict[str, int]  # forward FLOPs per aten op

    @property
    def macs(self) -> int:
        """Conv/linear/matmul multiply-accumulates of the forward pass (the paper's "FLOPs")."""
        return self.forward_flops // 2


def count_macs(
    model: nn.Module, input_shape: tuple[int, ...], by_module_depth: int = 0
) -> MacCount:
    """fvcore's count for one forward pass of ``model`` on a zero clip of ``input_shape``."""
    from fvcore.nn import FlopCountAnalysis  # imported late: it is slow and noisy to import

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            analysis = FlopCountAnalysis(model, torch.zeros(input_shape))
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            by_operator = dict(analysis.by_operator())
            by_module = _macs_by_module(analysis, by_module_depth) if by_module_depth else {}
            unsupported = dict(analysis.unsupported_ops())
    finally:
        model.train(was_training)
    return MacCount(
        macs=sum(v for k, v in by_operator.items() if k in MAC_OPERATORS),
        fvcore_macs=sum(by_operator.values()),
        by_operator=by_operator,
        unsupported_ops=unsupported,
        by_module=by_module,
    )


def _macs_by_module(analysis: Any, depth: int) -> dict[str, int]:
    table = analysis.by_module_and_operator()
    return {
        name or "(model)": sum(v for k, v in ops.items() if k in MAC_OPERATORS)
        for name, ops in table.items()
        if (name.count(".") + 1 if name else 0) <= depth
    }


def conv_backward_flop(
    grad_out_shape: list[int],
    x_shape: list[int],
    w_shape: list[int],
    _bias: Any,
    _stride: Any,
    _padding: Any,
    _dilation: Any,
    transposed: bool,
    _output_padding: Any,
    groups: int,
    output_mask: list[bool],
    out_shape: Any = None,
    **_: Any,
) -> int:
    """Convolution backward FLOPs with the weight gradient counted once per group, not ``groups``×.

    grad_input costs what the forward costs; grad_weight is N · C_out · (C_in / groups) · k · out
    MACs — the same as the forward too. torch 2.13 multiplies the latter by ``groups``.
    """
    flops = 0
    if output_mask[0]:
        flops += conv_flop_count(grad_out_shape, w_shape, list(out_shape[0]), not transposed)
    if output_mask[1]:
        spatial = x_shape[2:] if transposed else grad_out_shape[2:]
        flops += 2 * x_shape[0] * prod(spatial) * prod(w_shape)
    return flops


# Ops FlopCounterMode never runs as their decompositions: the size and layout queries it leaves
# to the tensor, and prim.device.
_QUERIES = frozenset({
    aten.sym_is_contiguous.default, aten.is_contiguous.default, aten.is_contiguous.memory_format,
    aten.is_strides_like_format.default, aten.is_non_overlapping_and_dense.default,
    aten.size.default, aten.sym_size.default, aten.stride.default, aten.sym_stride.default,
    aten.storage_offset.default, aten.sym_storage_offset.default, aten.numel.default,
    aten.sym_numel.default, aten.dim.default, torch.ops.prim.layout.default,
    torch.ops.prim.device.default,
})


class TrainFlopCounter:
    """FLOPs of one training step as FlopCounterMode counts them (its formulas, its
    decompositions, ``conv_backward_flop`` for the convolution backward), split into forward and
    backward by a call of ``end_of_forward`` between the two.

    It is driven by a dispatch mode: ``mode()`` for a count alone, or the memory estimate's
    tracker, which counts in its own dispatch (one mode instead of two). FlopCounterMode's
    per-module counts and the module tracking behind them are left out: only the total and the
    forward's by-operator counts are read. ``tests/measure/test_flops.py`` holds the counts to
    FlopCounterMode's over every registered model. An optimizer step adds nothing: only matrix
    products and convolutions have formulas.
    """

    def __init__(self) -> None:
        self._formulas = {**flop_registry,
                          aten.convolution_backward: shape_wrapper(conv_backward_flop)}
        self._by_operator: dict[Any, int] = {}  # op packet -> FLOPs, in order of first use
        self._decomposable: dict[Any, bool] = {}
        self._forward: tuple[int, dict[str, int]] | None = None

    def decomposed(self, mode: TorchDispatchMode, func: Any, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> Any:
        """``func`` run as its decomposition under ``mode`` (which dispatches, and so counts,
        its parts) where FlopCounterMode would decompose it: an op with a
        CompositeImplicitAutograd kernel, other than a size or layout query. Otherwise
        NotImplemented: the mode runs ``func`` itself and ``add``-s it."""
        known = self._decomposable.get(func)
        if known is None:
            known = isinstance(func, torch._ops.OpOverload) and func not in _QUERIES and (
                func._can_decompose())
            self._decomposable[func] = known
        if not known:
            return NotImplemented
        with mode:
            return func.decompose(*args, **kwargs)

    def add(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        """Count one op that ran (not decomposed) and gave ``out``."""
        packet = getattr(func, "_overloadpacket", None)
        formula = self._formulas.get(packet)
        if formula is not None:
            self._by_operator[packet] = (self._by_operator.get(packet, 0)
                                         + formula(*args, **kwargs, out_val=out))

    def mode(self) -> "_Counting":
        """A dispatch mode that counts into this counter."""
        return _Counting(self)

    def end_of_forward(self) -> None:
        self._forward = (sum(self._by_operator.values()),
                         {str(k): v for k, v in self._by_operator.items()})

    def count(self) -> FlopCount:
        if self._forward is None:
            raise RuntimeError("TrainFlopCounter.count() before end_of_forward()")
        forward, by_operator = self._forward
        total = sum(self._by_operator.values())
        return FlopCount(forward, total - forward, total, by_operator)


class _Counting(TorchDispatchMode):
    def __init__(self, counter: TrainFlopCounter) -> None:
        super().__init__()
        self.counter = counter

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        result = self.counter.decomposed(self, func, args, kwargs)
        if result is not NotImplemented:
            return result
        result = func(*args, **kwargs)
        self.counter.add(func, args, kwargs, result)
        return result


def count_flops_of(model: nn.Module, input_shape: tuple[int, ...]) -> FlopCount:
    """FLOPs of one forward and one backward pass of a model built under the current
    FakeTensorMode (a real model would compute for real)."""
    model.train()
    counter = TrainFlopCounter()
    with counter.mode():
        logits = model(torch.zeros(input_shape))
        counter.end_of_forward()
        logits.sum().backward()  # the loss adds no conv/linear work
    return counter.count()


def count_flops(build: Callable[[], nn.Module], input_shape: tuple[int, ...]) -> FlopCount:
    """FLOPs of one forward and one backward pass, counted on fake tensors (no real memory).

    ``build`` makes the model; it is called under FakeTensorMode so no weights are allocated.
    """
    with FakeTensorMode():
        return count_flops_of(build(), input_shape)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
