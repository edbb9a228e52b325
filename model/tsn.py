"""2D ResNets run per frame: TSN, TAM-ResNet and TSM, one trunk with a pluggable temporal op.

* TSN: Wang et al., "Temporal Segment Networks", ECCV 2016, https://arxiv.org/abs/1608.00859 —
  per-frame logits averaged over the clip.
* TAM-ResNet: a TAM on the input of every bottleneck, as IBM/action-recognition-pytorch builds it
  (Chen et al., CVPR 2021, https://arxiv.org/abs/2010.11757); the shortcut reads the raw input.
* TSM: Lin et al., "Temporal Shift Module", ICCV 2019, https://arxiv.org/abs/1811.08383 — residual
  shift of 1/8 of the channels each way in every bottleneck.

No temporal pooling: every frame reaches the classifier, so MACs scale linearly with frames.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model.registry import InputSpec, check_clip, check_common_fields, param, register
from model.resnet import EXPANSION, STAGE_BLOCKS, TemporalFactory, init_weights, resnet_stage
from model.temporal import TAM, TemporalShift


@dataclass(frozen=True)
class TSNConfig:
    depth: int = param(50, "ResNet depth: 50, 101 or 152 (26: a small net for CPU studies)")
    num_frames: int = param(16, "input frames, each through the 2D trunk")
    num_classes: int = param(174, "classes (Something-Something: 174, Kinetics: 400)")
    dropout: float = param(0.5, "dropout before the classifier")
    base_width: int = param(64, "stem width; stages are 4, 8, 16 and 32 times it")
    in_channels: int = param(3, "input channels per frame")
    image_size: int = param(224, "default input side in pixels")

    def __post_init__(self) -> None:
        if self.depth not in STAGE_BLOCKS:
            raise ValueError(f"depth={self.depth} is not one of {sorted(STAGE_BLOCKS)}")
        check_common_fields(self)


@dataclass(frozen=True)
class TAMResNetConfig(TSNConfig):
    blending_frames: int = param(3, "TAM kernel r: frames each TAM mixes (odd)")
    reference: bool = param(False, "follow the official operator sequence (slower; for checks)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.blending_frames < 1 or self.blending_frames % 2 == 0:
            raise ValueError(f"blending_frames={self.blending_frames} must be odd and positive")


@dataclass(frozen=True)
class TSMConfig(TSNConfig):
    shift_div: int = param(8, "1/shift_div of the channels shift each way")
    reference: bool = param(False, "follow the official operator sequence (slower; for checks)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.shift_div < 2:
            raise ValueError(f"shift_div={self.shift_div} must be at least 2")


class TemporalResNet(nn.Module):
    """ResNet on every frame of (N, C, T, H, W); logits are the mean of the per-frame logits."""

    def __init__(self, config: TSNConfig, temporal: TemporalFactory | None = None):
        super().__init__()
        self.config = config
        self.input_spec = InputSpec(config.in_channels, config.num_frames, config.image_size)
        w = config.base_width
        widths = [w * EXPANSION * 2**i for i in range(4)]
        self.conv1 = nn.Conv2d(config.in_channels, w, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        blocks = STAGE_BLOCKS[config.depth]
        self.layer1 = resnet_stage(w, widths[0], blocks[0], 1, temporal)
        self.layer2 = resnet_stage(widths[0], widths[1], blocks[1], 2, temporal)
        self.layer3 = resnet_stage(widths[1], widths[2], blocks[2], 2, temporal)
        self.layer4 = resnet_stage(widths[2], widths[3], blocks[3], 2, temporal)
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(widths[3], config.num_classes)
        init_weights(self, zero_init_last_bn=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, h, w = check_clip(x, self.input_spec)
        x = x.transpose(1, 2).reshape(n * t, c, h, w)  # (N*T, C, H, W)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        logits = self.fc(self.dropout(x))  # (N*T, classes)
        return logits.view(n, t, -1).mean(dim=1)


@register("tsn", TSNConfig, "TSN: 2D ResNet per frame, logits averaged (no temporal modelling)")
def tsn(config: TSNConfig) -> TemporalResNet:
    return TemporalResNet(config)


@register("tam_resnet", TAMResNetConfig, "TAM-ResNet: a TAM before every bottleneck (IBM)")
def tam_resnet(config: TAMResNetConfig) -> TemporalResNet:
    def make(channels: int) -> TAM:
        return TAM(channels, config.num_frames, config.blending_frames, config.reference)

    return TemporalResNet(config, make)


@register("tsm", TSMConfig, "TSM: residual temporal shift of 1/8 of the channels each way")
def tsm(config: TSMConfig) -> TemporalResNet:
    def make(channels: int) -> TemporalShift:
        return TemporalShift(config.num_frames, config.shift_div, config.reference)

    return TemporalResNet(config, make)
