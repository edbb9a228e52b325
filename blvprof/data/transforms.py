"""Clip transforms in plain torch ops: TSN multi-scale crop and flip for training, scale and centre
crop for evaluation, ImageNet normalisation. One crop and one flip apply to every frame of a clip.
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_SCALES = (1.0, 0.875, 0.75, 0.66)  # fractions of the shorter side (TSN's GroupMultiScaleCrop)
EVAL_SCALE = 256 / 224  # evaluation resizes the shorter side to size * 256/224, then centre-crops


@dataclass(frozen=True)
class CropBox:
    top: int
    left: int
    height: int
    width: int


def multiscale_crop_box(height: int, width: int, rng: np.random.Generator) -> CropBox:
    """A TSN crop: height and width scales at most one step apart, at a corner or the centre."""
    base = min(height, width)
    sides = [max(1, int(base * scale)) for scale in CROP_SCALES]
    pairs = [(h, w) for i, h in enumerate(sides) for j, w in enumerate(sides) if abs(i - j) <= 1]
    crop_h, crop_w = pairs[rng.integers(len(pairs))]
    spare_h, spare_w = height - crop_h, width - crop_w
    corners = [(0, 0), (0, spare_w), (spare_h, 0), (spare_h, spare_w), (spare_h // 2, spare_w // 2)]
    top, left = corners[rng.integers(len(corners))]
    return CropBox(top, left, crop_h, crop_w)


def center_crop_box(height: int, width: int, size: int) -> CropBox:
    """The central ``size``×``size`` window of a frame at least that large."""
    return CropBox(round((height - size) / 2), round((width - size) / 2), size, size)


def resize(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear, antialiased resize of float frames (T, C, H, W)."""
    if frames.shape[-2:] == (height, width):
        return frames
    return F.interpolate(frames, size=(height, width), mode="bilinear", antialias=True)


def crop(frames: torch.Tensor, box: CropBox) -> torch.Tensor:
    return frames[..., box.top : box.top + box.height, box.left : box.left + box.width]


def normalize(frames: torch.Tensor) -> torch.Tensor:
    """Map 0..255 frames (T, C, H, W) to ImageNet-normalised values."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255
    return (frames - mean) / std


def to_float_frames(frames: np.ndarray) -> torch.Tensor:
    """uint8 frames (T, H, W, 3) → float frames (T, 3, H, W) in 0..255."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float()


def to_clip(frames: torch.Tensor) -> torch.Tensor:
    """Normalised clip (3, T, H, W) from 0..255 frames (T, 3, H, W)."""
    return normalize(frames).transpose(0, 1).contiguous()


def train_clip(
    frames: np.ndarray, size: int, flip_allowed: bool, rng: np.random.Generator
) -> torch.Tensor:
    """uint8 frames (T, H, W, 3) → clip (3, T, size, size): multi-scale crop, resize, maybe flip."""
    clip = to_float_frames(frames)  # (T, 3, H, W)
    box = multiscale_crop_box(clip.shape[-2], clip.shape[-1], rng)
    clip = resize(crop(clip, box), size, size)
    if flip_allowed and rng.random() < 0.5:
        clip = clip.flip(-1)
    return to_clip(clip)


def eval_clip(frames: np.ndarray, size: int) -> torch.Tensor:
    """uint8 frames (T, H, W, 3) → clip (3, T, size, size): scale the shorter side, centre crop."""
    clip = to_float_frames(frames)  # (T, 3, H, W)
    height, width = clip.shape[-2:]
    short = round(size * EVAL_SCALE)
    if height <= width:
        scaled_h, scaled_w = short, max(short, round(width * short / height))
    else:
        scaled_h, scaled_w = max(short, round(height * short / width)), short
    clip = resize(clip, scaled_h, scaled_w)
    return to_clip(crop(clip, center_crop_box(scaled_h, scaled_w, size)))
