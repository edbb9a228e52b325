"""Clip transforms: multi-scale crops alike for every frame, flips when allowed, normalizing."""

import numpy as np
import pytest
import torch

from blvprof.data.transforms import (
    CROP_SCALES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    CropBox,
    center_crop_box,
    eval_clip,
    multiscale_crop_box,
    normalize,
    train_clip,
)

MEAN = np.array(IMAGENET_MEAN)[:, None, None, None]  # (3, 1, 1, 1)
STD = np.array(IMAGENET_STD)[:, None, None, None]


def unnormalize(clip: torch.Tensor) -> np.ndarray:
    """A normalised clip (3, T, H, W) back in 0..255."""
    return (clip.numpy() * STD + MEAN) * 255


def test_multiscale_crop_boxes() -> None:
    rng = np.random.default_rng(0)
    sides = [int(100 * scale) for scale in CROP_SCALES]
    shapes, positions = set(), set()
    for _ in range(500):
        box = multiscale_crop_box(100, 150, rng)
        step_h, step_w = sides.index(box.height), sides.index(box.width)
        assert abs(step_h - step_w) <= 1
        assert 0 <= box.top <= 100 - box.height and 0 <= box.left <= 150 - box.width
        corner_or_centre = box.top in (0, 100 - box.height, (100 - box.height) // 2)
        assert corner_or_centre and box.left in (0, 150 - box.width, (150 - box.width) // 2)
        shapes.add((box.height, box.width))
        positions.add((box.top == 0, box.left == 0))
    assert len(shapes) == 10  # 4 equal pairs and 6 one step apart
    assert len(positions) == 4


def test_train_clip_crops_every_frame_alike() -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 200, (20, 30, 3), dtype=np.uint8)
    frames = np.stack([base + 10 * t for t in range(4)]).astype(np.uint8)  # (T, H, W, 3)
    for seed in range(20):
        clip = train_clip(frames, 16, True, np.random.default_rng(seed))
        assert clip.shape == (3, 4, 16, 16) and clip.dtype == torch.float32
        levels = unnormalize(clip)
        offsets = levels - levels[:, :1]  # frame t minus frame 0: 10 t everywhere iff crops match
        assert np.allclose(offsets, 10 * np.arange(4)[None, :, None, None], atol=1e-3)


def flipped(flip_allowed: bool, seed: int) -> bool:
    ramp = np.broadcast_to(
        np.arange(0, 240, 8, dtype=np.uint8)[None, None, :, None], (2, 20, 30, 3)
    )
    levels = unnormalize(
        train_clip(np.ascontiguousarray(ramp), 16, flip_allowed, np.random.default_rng(seed))
    )
    return bool(levels[0, 0, 0, 0] > levels[0, 0, 0, -1])


def test_flip_only_when_allowed() -> None:
    assert not any(flipped(False, seed) for seed in range(40))
    assert 5 < sum(flipped(True, seed) for seed in range(40)) < 35


def test_eval_clip_scales_then_crops_the_centre() -> None:
    frames = np.random.default_rng(0).integers(0, 255, (2, 32, 40, 3), dtype=np.uint8)
    clip = eval_clip(frames, 28)  # 28 * 256/224 = 32: the shorter side needs no resize
    assert clip.shape == (3, 2, 28, 28)
    expected = frames[:, 2:30, 6:34].transpose(3, 0, 1, 2)  # (3, T, 28, 28)
    assert np.allclose(unnormalize(clip), expected, atol=1e-3)
    assert center_crop_box(32, 40, 28) == CropBox(2, 6, 28, 28)
    assert eval_clip(frames, 16).shape == (3, 2, 16, 16)


def test_eval_clip_of_portrait_frames() -> None:
    frames = np.zeros((1, 50, 20, 3), dtype=np.uint8)
    assert eval_clip(frames, 14).shape == (3, 1, 14, 14)


@pytest.mark.parametrize("channel", range(3))
def test_normalize_maps_imagenet_mean_to_zero(channel: int) -> None:
    frames = torch.zeros(1, 3, 2, 2)
    frames[:, channel] = 255 * IMAGENET_MEAN[channel]
    assert normalize(frames)[:, channel].abs().max() < 1e-5
    frames[:, channel] += 255 * IMAGENET_STD[channel]
    assert torch.allclose(normalize(frames)[:, channel], torch.ones(1, 2, 2))
