"""ResNet building blocks shared by the zoo: 2D and 3D bottlenecks, shortcuts, stage tables.

The 2D bottleneck is ResNet v1.5 (stride on the 3×3 conv, as torchvision and both IBM repos) and can
run a temporal operator (TAM, temporal shift) on its input. The 3D bottleneck is I3D's: inflated
convolutions with a chosen temporal kernel for its first two convs.
"""

from collections.abc import Callable

import torch
from torch import nn

# Bottleneck blocks per stage for each depth. 26 is a small [2, 2, 2, 2] net for quick CPU studies.
STAGE_BLOCKS: dict[int, tuple[int, int, int, int]] = {
    26: (2, 2, 2, 2),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}
EXPANSION = 4  # a bottleneck's output has 4× its inner width

TemporalFactory = Callable[[int], nn.Module]  # channels -> temporal op over the block's frames


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def conv_bn(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """The standard projection shortcut: strided 1×1 conv and batch norm."""
    return nn.Sequential(conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))


def avgpool_shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Sequential | None:
    """bL-Net's shortcut: 3×3 average pool when strided, then 1×1 conv + BN when widths differ."""
    layers: list[nn.Module] = []
    if stride != 1:
        layers.append(nn.AvgPool2d(3, stride=2, padding=1))
    if in_channels != out_channels:
        layers += [conv1x1(in_channels, out_channels), nn.BatchNorm2d(out_channels)]
    return nn.Sequential(*layers) if layers else None


class Bottleneck(nn.Module):
    """1×1 → 3×3 (strided) → 1×1 bottleneck with an optional temporal op on the block input.

    ``shortcut_after_temporal``: a projection shortcut reads the temporal op's output
    (bLVNet-TAM) rather than the raw input (TAM-ResNet, TSM); an identity shortcut always reads the
    raw input. ``last_relu=False`` leaves the sum un-activated, as bL-Net's big branch does before
    it is merged.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        temporal: nn.Module | None = None,
        shortcut_after_temporal: bool = False,
        last_relu: bool = True,
    ):
        super().__init__()
        width = out_channels // EXPANSION
        self.temporal = temporal
        self.conv1 = conv1x1(in_channels, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.shortcut_after_temporal = shortcut_after_temporal
        self.last_relu = last_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        if self.temporal is not None:
            x = self.temporal(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x if self.shortcut_after_temporal else identity)
        out += identity
        return self.relu(out) if self.last_relu else out


def resnet_stage(
    in_channels: int,
    out_channels: int,
    blocks: int,
    stride: int,
    temporal: TemporalFactory | None = None,
) -> nn.Sequential:
    """A ResNet stage with a projection shortcut on its first block, as torchvision builds it."""
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = conv_bn(in_channels, out_channels, stride)
    layers = []
    for i in range(blocks):
        block_in = in_channels if i == 0 else out_channels
        layers.append(
            Bottleneck(
                block_in,
                out_channels,
                stride if i == 0 else 1,
                downsample if i == 0 else None,
                temporal=temporal(block_in) if temporal is not None else None,
            )
        )
    return nn.Sequential(*layers)


class Bottleneck3d(nn.Module):
    """I3D bottleneck: (kt1,1,1) → (kt2,3,3) strided → 1×1×1 convolutions, 3D batch norm."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: tuple[int, int, int] = (1, 1, 1),
        downsample: nn.Module | None = None,
        temporal_kernels: tuple[int, int] = (1, 3),
    ):
        super().__init__()
        width = out_channels // EXPANSION
        kt1, kt2 = temporal_kernels
        self.conv1 = nn.Conv3d(
            in_channels, width, (kt1, 1, 1), padding=(kt1 // 2, 0, 0), bias=False
        )
        self.bn1 = nn.BatchNorm3d(width)
        self.conv2 = nn.Conv3d(
            width, width, (kt2, 3, 3), stride=stride, padding=(kt2 // 2, 1, 1), bias=False
        )
        self.bn2 = nn.BatchNorm3d(width)
        self.conv3 = nn.Conv3d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def init_weights(module: nn.Module, zero_init_last_bn: bool) -> None:
    """Kaiming-normal convs (fan_out), unit BN, small classifier; optionally zero every bn3."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm3d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.001)
            nn.init.zeros_(m.bias)
    if zero_init_last_bn:
        for m in module.modules():
            if isinstance(m, Bottleneck | Bottleneck3d):
                nn.init.zeros_(m.bn3.weight)
