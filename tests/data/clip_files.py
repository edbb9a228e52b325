"""Writers of tiny datasets on disk: frame folders written with PIL, videos written with PyAV.

Frame number n (1-based) of every clip is a solid grey of level ``GREY_STEP * n``, so a test can
tell from a decoded pixel which frame it came from.
"""

from pathlib import Path

import numpy as np
import torch
from PIL import Image

GREY_STEP = 20
FRAME_HEIGHT, FRAME_WIDTH = 24, 32


def grey_frames(count: int) -> np.ndarray:
    """``count`` frames (T, H, W, 3) uint8; frame index i has level GREY_STEP * (i + 1)."""
    levels = GREY_STEP * np.arange(1, count + 1, dtype=np.uint8)
    return np.broadcast_to(
        levels[:, None, None, None], (count, FRAME_HEIGHT, FRAME_WIDTH, 3)
    ).copy()


def frame_numbers(clip: torch.Tensor) -> list[int]:
    """The (nearest) frame number each frame of a normalised clip (3, T, H, W) shows."""
    mean = np.array([0.485, 0.456, 0.406])[:, None, None, None]
    std = np.array([0.229, 0.224, 0.225])[:, None, None, None]
    levels = ((clip.numpy() * std + mean) * 255).mean(axis=(0, 2, 3))  # (T,)
    return [round(level / GREY_STEP) for level in levels]


def write_frame_folder(folder: Path, count: int, suffix: str = ".png") -> Path:
    """``count`` grey frames named 00001.png (or .jpg), ... in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, frame in enumerate(grey_frames(count), start=1):
        Image.fromarray(frame).save(folder / f"{number:05d}{suffix}")
    return folder


def write_video(path: Path, count: int = 12) -> Path:
    """``count`` grey frames as a video: VP8 for .webm, else H.264 where available, else MPEG-4."""
    import av

    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx" if path.suffix == ".webm" else codec, rate=12)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = FRAME_WIDTH, FRAME_HEIGHT, "yuv420p"
        for frame in grey_frames(count):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path
