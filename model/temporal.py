"""Temporal operators on per-frame feature maps: TAM and temporal shift.

Feature maps travel through 2D trunks as (N*T, C, H, W): the frames of one clip are consecutive.

* TAM (Fan et al., NeurIPS 2019, https://arxiv.org/abs/1912.00869): for a kernel r,
  y_t = ReLU(sum_{j=-r//2..r//2} w_j * x_{t+j}) with one weight per channel and tap, zero padding at
  the clip ends. It is a depthwise temporal convolution followed by ReLU.
* Temporal shift (Lin et al., ICCV 2019, https://arxiv.org/abs/1811.08383): 1/div of the channels
  take the next frame's values, another 1/div the previous frame's, the rest stay; zero at the ends.

Each operator has a ``reference`` function that follows the official code's operator sequence; it
serves as the equivalence oracle and as the baseline the speed benchmark compares against.
"""

import torch
import torch.nn.functional as F
from torch import nn


def tam(x: torch.Tensor, weight: torch.Tensor, num_frames: int) -> torch.Tensor:
    """TAM as one depthwise temporal convolution. x: (N*T, C, H, W), weight: (C, r)."""
    nt, c, h, w = x.shape
    r = weight.shape[1]
    clip = x.view(nt // num_frames, num_frames, c, h, w).transpose(1, 2)  # (N, C, T, H, W)
    y = F.conv3d(clip, weight.view(c, 1, r, 1, 1), padding=(r // 2, 0, 0), groups=c)
    # Back to frame-major layout first, then ReLU in place: autograd keeps one copy, not two.
    return F.relu(y.transpose(1, 2).reshape(nt, c, h, w), inplace=True)


def tam_reference(x: torch.Tensor, weight: torch.Tensor, num_frames: int) -> torch.Tensor:
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


def temporal_shift(x: torch.Tensor, num_frames: int, shift_div: int = 8) -> torch.Tensor:
    """Shift 1/shift_div of the channels one frame back in time and 1/shift_div forward."""
    nt, c, h, w = x.shape
    fold = c // shift_div
    clip = x.view(nt // num_frames, num_frames, c, h, w)  # (N, T, C, H, W)
    from_next = F.pad(clip[:, 1:, :fold], (0, 0, 0, 0, 0, 0, 0, 1))
    from_prev = F.pad(clip[:, :-1, fold : 2 * fold], (0, 0, 0, 0, 0, 0, 1, 0))
    return torch.cat((from_next, from_prev, clip[:, :, 2 * fold :]), dim=2).view(nt, c, h, w)


def temporal_shift_reference(x: torch.Tensor, num_frames: int, shift_div: int = 8) -> torch.Tensor:
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
        self.op = tam_reference if reference else tam

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x, self.num_frames, self.shift_div)

    def extra_repr(self) -> str:
        return f"num_frames={self.num_frames}, shift_div={self.shift_div}"
