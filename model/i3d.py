"""I3D-ResNet: a 3D ResNet with inflated 3×3×3 bottleneck convolutions, and its SlowOnly variant.

* I3D: Carreira and Zisserman, "Quo Vadis, Action Recognition?", CVPR 2017,
  https://arxiv.org/abs/1705.07750, as IBM/action-recognition-pytorch's ``i3d_resnet`` builds it:
  a 3×7×7 stem, 3×3×3 middle convs, optional temporal stride 2 in layers 2–4.
* SlowOnly: Feichtenhofer et al., "SlowFast Networks", ICCV 2019, https://arxiv.org/abs/1812.03982 —
  a 1×7×7 stem, 1×3×3 middle convs, and 3×1×1 first convs in layers 3–4 only.

Logits are predicted per remaining time step and averaged, as the IBM implementation does.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model.registry import (
    InputSpec,
    check_clip,
    check_common_fields,
    param,
    register,
    register_variant,
)
from model.resnet import EXPANSION, STAGE_BLOCKS, Bottleneck3d, init_weights


@dataclass(frozen=True)
class I3DConfig:
    depth: int = param(50, "ResNet depth: 50, 101 or 152 (26: a small net for CPU studies)")
    num_frames: int = param(16, "input frames")
    temporal_stride: bool = param(True, "halve time in layers 2–4 (IBM's default)")
    slow_only: bool = param(False, "SlowOnly kernels: 1×7×7 stem, 3×1×1 only in layers 3–4")
    num_classes: int = param(174, "classes (Something-Something: 174, Kinetics: 400)")
    dropout: float = param(0.5, "dropout before the classifier")
    base_width: int = param(64, "stem width; stages are 4, 8, 16 and 32 times it")
    in_channels: int = param(3, "input channels per frame")
    image_size: int = param(224, "default input side in pixels")

    def __post_init__(self) -> None:
        if self.depth not in STAGE_BLOCKS:
            raise ValueError(f"depth={self.depth} is not one of {sorted(STAGE_BLOCKS)}")
        check_common_fields(self)


def stage3d(
    in_channels: int,
    out_channels: int,
    blocks: int,
    stride: tuple[int, int, int],
    temporal_kernels: tuple[int, int],
) -> nn.Sequential:
    downsample = None
    if stride != (1, 1, 1) or in_channels != out_channels:
        downsample = nn.Sequential(
            nn.Conv3d(in_channels, out_channels, 1, stride=stride, bias=False),
            nn.BatchNorm3d(out_channels),
        )
    return nn.Sequential(
        *(
            Bottleneck3d(
                in_channels if i == 0 else out_channels,
                out_channels,
                stride if i == 0 else (1, 1, 1),
                downsample if i == 0 else None,
                temporal_kernels,
            )
            for i in range(blocks)
        )
    )


class I3DResNet(nn.Module):
    """3D ResNet on (N, C, T, H, W) clips."""

    def __init__(self, config: I3DConfig):
        super().__init__()
        self.config = config
        self.input_spec = InputSpec(config.in_channels, config.num_frames, config.image_size)
        w = config.base_width
        widths = [w * EXPANSION * 2**i for i in range(4)]
        stem_t = 1 if config.slow_only else 3
        self.conv1 = nn.Conv3d(
            config.in_channels,
            w,
            (stem_t, 7, 7),
            stride=(1, 2, 2),
            padding=(stem_t // 2, 3, 3),
            bias=False,
        )
        self.bn1 = nn.BatchNorm3d(w)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        t = 2 if config.temporal_stride else 1
        kernels = [(1, 1), (1, 1), (3, 1), (3, 1)] if config.slow_only else [(1, 3)] * 4
        blocks = STAGE_BLOCKS[config.depth]
        self.layer1 = stage3d(w, widths[0], blocks[0], (1, 1, 1), kernels[0])
        self.layer2 = stage3d(widths[0], widths[1], blocks[1], (t, 2, 2), kernels[1])
        self.layer3 = stage3d(widths[1], widths[2], blocks[2], (t, 2, 2), kernels[2])
        self.layer4 = stage3d(widths[2], widths[3], blocks[3], (t, 2, 2), kernels[3])
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(widths[3], config.num_classes)
        init_weights(self, zero_init_last_bn=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_clip(x, self.input_spec)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (N, C, T', h, w)
        x = F.adaptive_avg_pool3d(x, (x.shape[2], 1, 1)).flatten(2).transpose(1, 2)  # (N, T', C)
        return self.fc(self.dropout(x)).mean(dim=1)


@register("i3d", I3DConfig, "I3D-ResNet: inflated 3×3×3 bottlenecks, 3×7×7 stem (IBM)")
def i3d(config: I3DConfig) -> I3DResNet:
    return I3DResNet(config)


register_variant(
    "slow_only",
    "i3d",
    "SlowOnly 3D ResNet: 3×1×1 kernels in layers 3–4, no temporal stride",
    slow_only=True,
    temporal_stride=False,
)
