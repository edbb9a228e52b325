"""Small model files for the model-reference tests: one network written in three layouts.

Each net is a per-frame 3×3 convolution, a spatial and temporal mean and a classifier, so the
three take the same MACs per clip however the frames arrive.
"""

from pathlib import Path

NETS = '''
from typing import Literal

import torch
from torch import nn


class Net3D(nn.Module):
    """(N, C, T, H, W): a 1×3×3 Conv3d is a per-frame 3×3 convolution."""

    def __init__(self, width: int = 8, num_classes: int = 5):
        super().__init__()
        self.conv = nn.Conv3d(3, width, (1, 3, 3), padding=(0, 1, 1))
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.fc(self.conv(x).relu().mean((2, 3, 4)))


class TSN2D(nn.Module):
    """(N·T, C, H, W), TSN-style: frames in the batch, logits averaged per clip."""

    def __init__(self, num_frames: int, width: int = 8, num_classes: int = 5):
        super().__init__()
        self.num_frames = num_frames
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        features = self.conv(x).relu().mean((2, 3))
        return self.fc(features.view(-1, self.num_frames, features.shape[-1]).mean(1))


class FramesInChannels(nn.Module):
    """(N, T·C, H, W), as the official bLVNet-TAM takes it: one group per frame."""

    def __init__(self, num_frames: int, width: int = 8, num_classes: int = 5):
        super().__init__()
        self.num_frames, self.width = num_frames, width
        self.conv = nn.Conv2d(3 * num_frames, width * num_frames, 3, padding=1,
                              groups=num_frames)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        features = self.conv(x).relu().mean((2, 3))
        return self.fc(features.view(-1, self.num_frames, self.width).mean(1))


def net3d(width: int = 8, scale: float = 1.0, bias: bool = True,
          mode: Literal["a", "b"] = "a", extra: int | None = None, loose=3):
    return Net3D(width)


def tiny_tsn(num_frames: int = 4):
    import model
    return model.create_model("tsn", depth=26, base_width=8, num_frames=num_frames,
                              num_classes=5, image_size=32, dropout=0.0)


def declared_tsn(num_classes: int = 5):
    """Declares what it takes, as a module of another code base may: 6 frames in the batch."""
    net = TSN2D(num_frames=6, num_classes=num_classes)
    net.input_spec, net.input_layout = (3, 6, 16, 16), "frames-in-batch"
    return net


def raises():
    raise RuntimeError("weights are missing")


def not_a_module():
    return 42


def per_frame_logits():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())


NOT_CALLABLE = 7
'''

BROKEN_IMPORT = "import nosuchpackage_for_blvprof\n"


def write_nets(folder: Path, name: str = "nets.py") -> Path:
    path = folder / name
    path.write_text(NETS)
    return path
