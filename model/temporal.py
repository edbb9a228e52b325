"""Temporal operators on per-frame feature maps: TAM and temporal shift.

Feature maps travel through 2D trunks as (N*T, C, H, W): the frames of one clip are consecutive.

* TAM (Fan et al., NeurIPS 2019, https://arxiv.org/abs/1912.00869): for a kernel r,
  y_t = ReLU(sum_{j=-r//2..r//2} w_j * x_{t+j}) with one weight per channel and tap, zero padding at
  the clip ends. It is a depthwise temporal convolution followed by ReLU.
* Temporal shift (Lin et al., ICCV 2019, https://arxiv.org/abs/1811.08383): 1/div of the channels
  take the next frame's values, another 1/div the previous frame's, the rest stay; zero at the ends.

Each operator has a ``reference`` function that follows the official code's operator sequence; it
serves as the equivalence oracle and as the baseline the speed benchmark compares against.

The fast TAM is a custom op (``torch.ops.temporal.tam`` and ``tam_pairs``, in ``model.tam_op``):
multiply-adds in whatever memory format the maps have, with FLOP formulas for FlopCounterMode.
On a GPU the op runs its terms as compiled kernels, and under torch.compile ``tam`` and
``tam_pairs`` hand inductor the terms themselves (``model.tam_op.tam_terms``) to fuse with the
layers around them; autograd differentiates them there.
TorchScript cannot hold a Python op, so while tracing (fvcore) ``tam`` and ``tam_pairs`` emit the
depthwise conv3d formulation instead: the same function, the same MACs. The fast temporal shift is
an autograd Function whose backward is the opposite shift.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.tam_op import tam_op, tam_pairs_op, tam_terms


def _clip_view(x: Tensor, num_frames: int) -> Tensor:
    """(N*T, C, H, W) -> (N, T, C, H, W) without a copy, in any memory format."""
    nt, c, h, w = x.shape
    return x.view(nt // num_frames, num_frames, c, h, w)


def tam(x: Tensor, weight: Tensor, num_frames: int) -> Tensor:
    """TAM as one depthwise temporal operation. x: (N*T, C, H, W), weight: (C, r)."""
    if torch.jit.is_tracing():  # TorchScript cannot hold a Python op; tracers count this conv
        return tam_conv3d(x, weight, num_frames)
    if x.is_cuda and torch.compiler.is_compiling():  # inductor fuses the terms with their
        return tam_terms(x, weight, num_frames, 1, False)[0]  # neighbours, both ways
    return tam_op(x, weight, num_frames)


def tam_pairs(x: Tensor, weight: Tensor, num_pairs: int, duplicated: bool) -> tuple[Tensor, Tensor]:
    """TAM over a clip's 2T frames, split: (odd frames, even frames), each (N*T, C, H, W).

    x: (N*2T, C, H, W), or (N*T, C, H, W) when ``duplicated``: one map per frame pair that stands
    for both its frames, as a big-little module leaves them. Either way the TAM mixes the 2T
    frames in their temporal order; neither split nor duplication is ever copied.
    """
    if torch.jit.is_tracing():
        return _tam_pairs_conv3d(x, weight, num_pairs, duplicated)
    if x.is_cuda and torch.compiler.is_compiling():
        even, odd = tam_terms(x, weight, num_pairs, 2, duplicated)
        return odd, even
    return tam_pairs_op(x, weight, num_pairs, duplicated)


def _tam_pairs_conv3d(
    x: Tensor, weight: Tensor, num_pairs: int, duplicated: bool
) -> tuple[Tensor, Tensor]:
    """``tam_pairs`` as duplicate, conv3d, split: what TorchScript tracers (fvcore) see."""
    nt, c, h, w = x.shape
    if duplicated:
        x = x.unsqueeze(1).expand(nt, 2, c, h, w).reshape(2 * nt, c, h, w)
    pairs = tam_conv3d(x, weight, 2 * num_pairs).view(-1, num_pairs, 2, c, h, w)
    return pairs[:, :, 1].reshape(-1, c, h, w), pairs[:, :, 0].reshape(-1, c, h, w)


def tam_conv3d(x: Tensor, weight: Tensor, num_frames: int) -> Tensor:
    """TAM as a depthwise conv3d with a (r, 1, 1) kernel on the (N, C, T, H, W) view."""
    nt, c, h, w = x.shape
    r = weight.shape[1]
    clip = _clip_view(x, num_frames).transpose(1, 2)  # (N, C, T, H, W)
    y = F.conv3d(clip, weight.view(c, 1, r, 1, 1), padding=(r // 2, 0, 0), groups=c)
    return F.relu(y.transpose(1, 2).reshape(nt, c, h, w), inplace=True)


def tam_reference(x: Tensor, weight: Tensor, num_frames: int) -> Tensor:
    """TAM as the official code computes it: r depthwise 1×1 convs, shifted copies, stack, sum."""
    nt, c, h, w = x.shape
    r = weight.shape[1]
    shifted = []
    for k in range(r):
        blended = F.conv2d(x, weight[:, k].reshape(c, 1, 1, 1), groups=c)
        blended = blended.view(-1, num_frames, c, h, w)  # (N, T, C, H, W)
        offset = k - r // 2  # output frame t reads input frame t + offset
        if offset < 0:
            blended = F.pad(blended, (0, 0, 0, 0, 0, 0, -offset, 0))[:, :num_frames]
        elif offset > 0:
            blended = F.pad(blended, (0, 0, 0, 0, 0, 0, 0, offset))[:, offset:]
        shifted.append(blended)
    return F.relu(torch.stack(shifted).sum(dim=0), inplace=True).view(nt, c, h, w)


def _shift(x: Tensor, num_frames: int, fold: int, back: bool) -> Tensor:
    """Channels [0, fold) read frame t+1 and [fold, 2·fold) frame t-1; ``back`` swaps the two."""
    clip = _clip_view(x, num_frames)
    out = torch.empty_like(x)
    y = _clip_view(out, num_frames)
    early, late = slice(0, fold), slice(fold, 2 * fold)
    if back:
        early, late = late, early
    y[:, :-1, early] = clip[:, 1:, early]
    y[:, -1, early] = 0
    y[:, 1:, late] = clip[:, :-1, late]
    y[:, 0, late] = 0
    y[:, :, 2 * fold :] = clip[:, :, 2 * fold :]
    return out


class _TemporalShift(torch.autograd.Function):
    """Temporal shift whose backward is the opposite shift (autograd's own would zero-fill 3×)."""

    @staticmethod
    def forward(x: Tensor, num_frames: int, fold: int) -> Tensor:
        return _shift(x, num_frames, fold, back=False)

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: Tensor) -> None:
        _, ctx.num_frames, ctx.fold = inputs

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        return _shift(grad, ctx.num_frames, ctx.fold, back=True), None, None


def temporal_shift(x: Tensor, num_frames: int, shift_div: int = 8) -> Tensor:
    """Shift 1/shift_div of the channels one frame back in time and 1/shift_div forward."""
    if torch.jit.is_tracing():  # TorchScript cannot trace a Function with int arguments
        return _shift(x, num_frames, x.shape[1] // shift_div, back=False)
    return _TemporalShift.apply(x, num_frames, x.shape[1] // shift_div)


def temporal_shift_reference(x: Tensor, num_frames: int, shift_div: int = 8) -> Tensor:
    """Temporal shift as the official TSM code computes it: zeros plus sliced assignments."""
    nt, c, h, w = x.shape
    fold = c // shift_div
    clip = x.view(nt // num_frames, num_frames, c, h, w)
    out = torch.zeros_like(clip)
    out[:, :-1, :fold] = clip[:, 1:, :fold]
    out[:, 1:, fold : 2 * fold] = clip[:, :-1, fold : 2 * fold]
    out[:, :, 2 * fold :] = clip[:, :, 2 * fold :]
    return out.view(nt, c, h, w)


class TAM(nn.Module):
    """Temporal aggregation module over ``num_frames`` frames; one weight per channel and tap."""

    def __init__(self, channels: int, num_frames: int, kernel: int = 3, reference: bool = False):
        super().__init__()
        self.num_frames = num_frames
        # Each tap starts as the official 1×1 depthwise conv would (Kaiming normal, fan_out = 1).
        self.weight = nn.Parameter(torch.randn(channels, kernel) * 2**0.5)
        self.reference = reference
        self.op = tam_reference if reference else tam

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x, self.weight, self.num_frames)

    def extra_repr(self) -> str:
        c, r = self.weight.shape
        return f"channels={c}, num_frames={self.num_frames}, kernel={r}"


class TemporalShift(nn.Module):
    """Temporal shift over ``num_frames`` frames (no parameters, no MACs)."""

    def __init__(self, num_frames: int, shift_div: int = 8, reference: bool = False):
        super().__init__()
        self.num_frames = num_frames
        self.shift_div = shift_div
        self.op = temporal_shift_reference if reference else temporal_shift

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x, self.num_frames, self.shift_div)

    def extra_repr(self) -> str:
        return f"num_frames={self.num_frames}, shift_div={self.shift_div}"
