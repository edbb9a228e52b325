"""Counting MACs and FLOPs, two independent ways.

* fvcore (the primary count, the paper's convention): one "flop" in fvcore is one multiply-add, so
  its conv/linear/matmul counts are MACs. fvcore also counts batch norm, upsampling and adaptive
  pooling (about +0.5 %); those are kept apart as ``fvcore_macs``. Ops it cannot count are listed,
  never dropped.
* torch.utils.flop_counter.FlopCounterMode (the cross-check): 2 FLOPs per MAC, forward and backward,
  on fake tensors (no memory, no compute). Its backward formula for grouped convolutions counts the
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
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

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


def _flop_counter_mode() -> FlopCounterMode:
    return FlopCounterMode(
        display=False, custom_mapping={aten.convolution_backward: conv_backward_flop})


class TrainFlopCounter:
    """FlopCounterMode over one training step (enter ``mode`` around it), split into forward and
    backward by a call of ``end_of_forward`` between the two. An optimizer step adds nothing:
    FlopCounterMode counts matrix products and convolutions only."""

    def __init__(self) -> None:
        self.mode = _flop_counter_mode()
        self._forward: tuple[int, dict[str, int]] | None = None

    def end_of_forward(self) -> None:
        by_operator = {str(k): v for k, v in self.mode.get_flop_counts()["Global"].items()}
        self._forward = self.mode.get_total_flops(), by_operator

    def count(self) -> FlopCount:
        if self._forward is None:
            raise RuntimeError("TrainFlopCounter.count() before end_of_forward()")
        forward, by_operator = self._forward
        total = self.mode.get_total_flops()
        return FlopCount(forward, total - forward, total, by_operator)


def count_flops_of(model: nn.Module, input_shape: tuple[int, ...]) -> FlopCount:
    """FLOPs of one forward and one backward pass of a model built under the current
    FakeTensorMode (a real model would compute for real)."""
    model.train()
    counter = TrainFlopCounter()
    with counter.mode:
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
