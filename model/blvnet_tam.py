"""bLVNet-TAM: big-little video network with depthwise temporal aggregation.

Fan, Chen, Kuehne, Pistoia, Cox. "More Is Less: Learning Efficient Video Representations by
Big-Little Network and Depthwise Temporal Aggregation", NeurIPS 2019.
https://arxiv.org/abs/1912.00869 — official code: https://github.com/IBM/bLVNet-TAM

Input frames come in pairs: of each pair the odd frame goes through the big branch (deep, at half
the resolution) and the even frame through the little branch (alpha× narrower, about beta× fewer
blocks). After each big-little module the fused map is copied back to both frames of its pair. TAMs
mix information across frames before the stem's split, each bL-module and each layer4 block.

The default path copies no frames: a TAM writes the big and the little frames as two contiguous
blocks, and reads a module's fused maps as standing for both frames of their pair (``PairTAM``,
``model.tam_op``). ``reference=True`` follows the official operator sequence instead: index-list
gathers, a zero tensor filled by index scatter, and r 1×1 convs per TAM.
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
from model.resnet import EXPANSION, Bottleneck, avgpool_shortcut, conv1x1, conv3x3, init_weights
from model.temporal import TAM, tam_pairs, tam_reference

# bL-ResNet stage depths; they differ from ResNet's (101 is [3, 4, 23, 3] there).
BL_STAGE_BLOCKS: dict[int, tuple[int, int, int, int]] = {
    26: (2, 2, 2, 2),
    50: (3, 4, 6, 3),
    101: (4, 8, 18, 3),
    152: (5, 12, 30, 3),
}


@dataclass(frozen=True)
class BLVNetTAMConfig:
    depth: int = param(50, "bL-ResNet depth: 50, 101 or 152 (26: a small net for CPU studies)")
    num_frames: int = param(16, "input frames, even: 8×2 = 16 (odd positions feed the big branch)")
    alpha: int = param(2, "the little branch is alpha× narrower than the big one")
    beta: int = param(4, "the little branch has about beta× fewer blocks than the big one")
    blending_frames: int = param(3, "TAM kernel r: frames each TAM mixes (odd)")
    use_tam: bool = param(True, "False builds bLVNet without TAM")
    num_classes: int = param(174, "classes (Something-Something: 174, Kinetics: 400)")
    dropout: float = param(0.5, "dropout before the classifier")
    base_width: int = param(64, "stem width; stages are 4, 8, 16 and 32 times it")
    in_channels: int = param(3, "input channels per frame")
    image_size: int = param(224, "default input side in pixels")
    reference: bool = param(False, "follow the official operator sequence (slower; for checks)")

    def __post_init__(self) -> None:
        if self.depth not in BL_STAGE_BLOCKS:
            raise ValueError(f"depth={self.depth} is not one of {sorted(BL_STAGE_BLOCKS)}")
        if self.num_frames < 2 or self.num_frames % 2:
            raise ValueError(
                f"num_frames={self.num_frames} must be even and at least 2 (frame pairs)"
            )
        if self.alpha < 1 or self.base_width % self.alpha:
            raise ValueError(f"alpha={self.alpha} does not divide {self.base_width} channels")
        largest = max(BL_STAGE_BLOCKS[self.depth][:3])
        if not 1 <= self.beta <= largest:
            raise ValueError(
                f"beta={self.beta} must be between 1 and {largest}, the largest bL-stage's blocks"
            )
        if self.blending_frames < 1 or self.blending_frames % 2 == 0:
            raise ValueError(f"blending_frames={self.blending_frames} must be odd and positive")
        check_common_fields(self)


def split_pairs_reference(x: torch.Tensor, num_pairs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The official split: gather frames through Python index lists."""
    frames = 2 * num_pairs
    clips = x.shape[0] // frames
    big = [k + i * frames for i in range(clips) for k in range(1, frames, 2)]
    little = [k + i * frames for i in range(clips) for k in range(0, frames, 2)]
    return x[big], x[little]


def merge_pairs_reference(x: torch.Tensor, num_pairs: int) -> torch.Tensor:
    """The official merge: a zero tensor filled by index scatter."""
    n = 2 * x.shape[0]
    out = torch.zeros((n, *x.shape[1:]), device=x.device, dtype=x.dtype)
    out[range(0, n, 2)] = x
    out[range(1, n, 2)] = x
    return out


class PairTAM(TAM):
    """TAM over a clip's 2T frames, returned split into big (odd) and little (even) frames.

    ``duplicated``: the input holds one map per frame pair, standing for both frames, as a
    big-little module leaves them; the official code copies it to both frames before its TAM.
    """

    def __init__(self, channels: int, config: BLVNetTAMConfig, duplicated: bool):
        super().__init__(channels, config.num_frames, config.blending_frames, config.reference)
        self.duplicated = duplicated

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        num_pairs = self.num_frames // 2
        if not self.reference:
            return tam_pairs(x, self.weight, num_pairs, self.duplicated)
        if self.duplicated:
            x = merge_pairs_reference(x, num_pairs)
        return split_pairs_reference(tam_reference(x, self.weight, self.num_frames), num_pairs)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, duplicated={self.duplicated}"


def split_frames(
    x: torch.Tensor, tam: PairTAM | None, config: BLVNetTAMConfig, duplicated: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """(big, little) frames, each (N*T, C, H, W), from 2T frames or T ``duplicated`` pairs."""
    if tam is not None:
        return tam(x)
    num_pairs = config.num_frames // 2
    if config.reference:
        if duplicated:
            x = merge_pairs_reference(x, num_pairs)
        return split_pairs_reference(x, num_pairs)
    if duplicated:
        return x, x
    nt, c, h, w = x.shape
    pairs = x.view(nt // (2 * num_pairs), num_pairs, 2, c, h, w)
    return pairs[:, :, 1].reshape(-1, c, h, w), pairs[:, :, 0].reshape(-1, c, h, w)


def bl_branch(
    in_channels: int, out_channels: int, blocks: int, stride: int, last_relu: bool = True
) -> nn.Sequential:
    """A bL-Net branch; only a branch of two or more blocks drops its final ReLU (as official)."""
    layers = [
        Bottleneck(
            in_channels, out_channels, stride, avgpool_shortcut(in_channels, out_channels, stride)
        )
    ]
    for i in range(1, blocks):
        layers.append(
            Bottleneck(out_channels, out_channels, last_relu=last_relu if i == blocks - 1 else True)
        )
    return nn.Sequential(*layers)


class BigLittleModule(nn.Module):
    """TAM, then a big branch at half resolution and a narrow little branch, merged and fused.

    Takes and returns one map per frame pair, (N*T, C, H, W): the official code's copy of each
    fused map to both frames of its pair is left implicit, and the next TAM reads it as such.
    """

    def __init__(
        self, in_channels: int, out_channels: int, blocks: int, stride: int, config: BLVNetTAMConfig
    ):
        super().__init__()
        self.config = config
        self.tam = PairTAM(in_channels, config, duplicated=True) if config.use_tam else None
        self.big = bl_branch(in_channels, out_channels, blocks - 1, stride=2, last_relu=False)
        little_width = out_channels // config.alpha
        self.little = bl_branch(in_channels, little_width, max(1, blocks // config.beta - 1), 1)
        self.little_e = nn.Sequential(
            conv1x1(little_width, out_channels), nn.BatchNorm2d(out_channels)
        )
        self.fusion = bl_branch(out_channels, out_channels, 1, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N*T, C, H, W)
        big, little = split_frames(x, self.tam, self.config, duplicated=True)
        little = self.little_e(self.little(little))
        big = F.interpolate(self.big(big), size=little.shape[-2:], mode="nearest")
        return self.fusion(self.relu(big + little))


class BLVNetTAM(nn.Module):
    """bLVNet-TAM on (N, C, 2T, H, W) clips; logits are the mean of T per-frame predictions."""

    def __init__(self, config: BLVNetTAMConfig):
        super().__init__()
        self.config = config
        self.input_spec = InputSpec(config.in_channels, config.num_frames, config.image_size)
        self.num_pairs = config.num_frames // 2
        stage_blocks = BL_STAGE_BLOCKS[config.depth]
        w, a = config.base_width, config.alpha
        widths = [w * EXPANSION * 2**i for i in range(4)]  # 256, 512, 1024, 2048 at w = 64

        self.conv1 = nn.Conv2d(config.in_channels, w, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        self.tam = PairTAM(w, config, duplicated=False) if config.use_tam else None
        self.b_conv0 = conv3x3(w, w, stride=2)
        self.bn_b0 = nn.BatchNorm2d(w)
        self.l_conv0 = conv3x3(w, w // a)
        self.bn_l0 = nn.BatchNorm2d(w // a)
        self.l_conv1 = conv3x3(w // a, w // a, stride=2)
        self.bn_l1 = nn.BatchNorm2d(w // a)
        self.l_conv2 = conv1x1(w // a, w)
        self.bn_l2 = nn.BatchNorm2d(w)
        self.bl_init = conv1x1(w, w)
        self.bn_bl_init = nn.BatchNorm2d(w)

        self.layer1 = BigLittleModule(w, widths[0], stage_blocks[0], 2, config)
        self.layer2 = BigLittleModule(widths[0], widths[1], stage_blocks[1], 2, config)
        self.layer3 = BigLittleModule(widths[1], widths[2], stage_blocks[2], 1, config)
        self.layer4 = nn.Sequential(
            *(
                Bottleneck(
                    widths[2] if i == 0 else widths[3],
                    widths[3],
                    stride=2 if i == 0 else 1,
                    downsample=avgpool_shortcut(widths[2], widths[3], 2) if i == 0 else None,
                    temporal=self._layer4_tam(widths[2] if i == 0 else widths[3]),
                    shortcut_after_temporal=True,
                )
                for i in range(stage_blocks[3])
            )
        )  # on the big frames only: T maps
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(widths[3], config.num_classes)
        init_weights(self, zero_init_last_bn=True)

    def _layer4_tam(self, channels: int) -> TAM | None:
        config = self.config
        if not config.use_tam:
            return None
        return TAM(channels, self.num_pairs, config.blending_frames, config.reference)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """conv 7×7 on every frame, TAM, then a big-little split of its own: (N*T, C, H, W)."""
        x = self.relu(self.bn1(self.conv1(x)))
        big, little = split_frames(x, self.tam, self.config, duplicated=False)
        big = self.bn_b0(self.b_conv0(big))
        little = self.relu(self.bn_l0(self.l_conv0(little)))
        little = self.relu(self.bn_l1(self.l_conv1(little)))
        little = self.bn_l2(self.l_conv2(little))
        return self.relu(self.bn_bl_init(self.bl_init(self.relu(big + little))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, h, w = check_clip(x, self.input_spec)
        x = x.transpose(1, 2).reshape(n * t, c, h, w)  # (N*2T, C, H, W)
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))  # one map per frame pair
        if self.config.reference:  # the official code's merge, then its split
            x = split_pairs_reference(merge_pairs_reference(x, self.num_pairs), self.num_pairs)[0]
        x = self.layer4(x)  # on the big frames: (N*T, C, H/32, W/32)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        logits = self.fc(self.dropout(x))  # one prediction per big frame
        return logits.view(n, self.num_pairs, -1).mean(dim=1)


@register("blvnet_tam", BLVNetTAMConfig, "bLVNet-TAM (NeurIPS 2019), paper defaults α2 β4 8×2")
def blvnet_tam(config: BLVNetTAMConfig) -> BLVNetTAM:
    return BLVNetTAM(config)


register_variant(
    "blvnet",
    "blvnet_tam",
    "bLVNet without TAM (the paper's ablation)",
    family="blvnet",
    use_tam=False,
)
for _depth in (50, 101):
    for _pairs in (8, 16, 24, 32):
        register_variant(
            f"blvnet_tam_{_depth}_a2_b4_f{_pairs}x2",
            "blvnet_tam",
            f"bLVNet-TAM-{_depth} α2 β4 {_pairs}×2 (paper row)",
            depth=_depth,
            num_frames=2 * _pairs,
        )
