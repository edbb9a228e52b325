"""Which frames of a video make a clip: TSN segment sampling and dense strided sampling.

Both return 0-based indices into the video's frames; ``rng=None`` means evaluation (deterministic),
a generator means training (random).
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FrameSampling:
    num_frames: int  # frames per clip (T)
    dense: bool = False  # consecutive frames at ``stride`` instead of one frame per segment
    stride: int = 2  # frame step for dense sampling


def segment_indices(available: int, num_frames: int, rng: np.random.Generator | None) -> np.ndarray:
    """TSN: one frame per equal segment, random within it (train) or its centre (eval)."""
    if available < num_frames:  # repeat frames evenly, e.g. 3 frames → 0 0 1 1 2 2 for T=6
        return np.arange(num_frames) * available // num_frames
    if rng is None:
        tick = available / num_frames
        return (tick / 2 + tick * np.arange(num_frames)).astype(np.int64)
    starts = np.arange(num_frames) * available // num_frames
    ends = np.arange(1, num_frames + 1) * available // num_frames
    return rng.integers(starts, ends)


def dense_indices(
    available: int, num_frames: int, stride: int, rng: np.random.Generator | None
) -> np.ndarray:
    """``num_frames`` frames ``stride`` apart from a random (train) or central (eval) start."""
    span = (num_frames - 1) * stride + 1
    if available <= span:  # too short: start at 0 and loop around the video
        return np.arange(num_frames) * stride % available
    latest = available - span
    start = latest // 2 if rng is None else int(rng.integers(latest + 1))
    return start + np.arange(num_frames) * stride


def sample_indices(
    available: int, sampling: FrameSampling, rng: np.random.Generator | None
) -> np.ndarray:
    """Frame indices for one clip of a video with ``available`` (at least one) frames."""
    if sampling.dense:
        return dense_indices(available, sampling.num_frames, sampling.stride, rng)
    return segment_indices(available, sampling.num_frames, rng)
