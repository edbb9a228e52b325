"""Drawing primitives for the synthetic benchmark, vectorised over frames: a textured, noisy
background and anti-aliased two-tone shapes that follow a per-frame pose.

Images are channel-first float arrays in 0..1: a clip is (3, T, H, W), a mask is (T, H, W).
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

SHAPES = ("disc", "ring", "triangle", "square", "pentagon", "hexagon", "cross")
TEXTURE_CELLS = 6  # the background's colour blobs come from a 6×6 grid of random colours


@dataclass(frozen=True)
class Sprite:
    """How an object looks; two tones split across its own axis make every rotation visible."""

    shape: str  # one of SHAPES
    colour: tuple[float, float, float]  # RGB of one side of the split
    shade: tuple[float, float, float]  # RGB of the other side
    split: float  # where the tones meet along the object's vertical axis, in radii


@dataclass(frozen=True, eq=False)
class Track:
    """Where an object is in each frame; every array has shape (T,)."""

    x: np.ndarray  # centre column in pixels
    y: np.ndarray  # centre row in pixels
    radius: np.ndarray  # circumradius in pixels
    angle: np.ndarray  # radians, clockwise on screen
    opacity: np.ndarray  # 0 (absent) .. 1


def random_colour(rng: np.random.Generator) -> tuple[float, float, float]:
    """A saturated colour: one random channel high, one low, one in between."""
    high, low = rng.uniform(0.75, 1.0), rng.uniform(0.0, 0.25)
    channels = [high, low, rng.uniform(low, high)]
    order = rng.permutation(3)
    return (channels[order[0]], channels[order[1]], channels[order[2]])


def random_sprite(rng: np.random.Generator) -> Sprite:
    return coloured_sprite(rng, random_colour(rng))


def coloured_sprite(rng: np.random.Generator, colour: tuple[float, float, float]) -> Sprite:
    """A random shape in ``colour``, its other side a darker shade of it."""
    shade = (colour[0] * 0.45, colour[1] * 0.45, colour[2] * 0.45)
    return Sprite(SHAPES[rng.integers(len(SHAPES))], colour, shade, rng.uniform(-0.3, 0.3))


def grey_sprite(rng: np.random.Generator) -> Sprite:
    """An unsaturated object: a grey level, so it never carries a colour cue."""
    level = float(rng.uniform(0.3, 0.9))
    return coloured_sprite(rng, (level, level, level))


# A white dot along the object's own vertical axis: its orbit shows rotation even on shapes whose
# outline repeats after a fraction of a turn.
MARK = Sprite("disc", (1.0, 1.0, 1.0), (1.0, 1.0, 1.0), split=2.0)


def mark_track(track: Track, offset: float, radius: float) -> Track:
    """Where ``MARK`` sits on an object following ``track`` (clockwise angles, rows down).

    ``offset`` (centre to dot) and ``radius`` (the dot's) are in the object's radii.
    """
    reach = offset * track.radius
    return Track(
        x=track.x + reach * np.sin(track.angle),
        y=track.y - reach * np.cos(track.angle),
        radius=radius * track.radius,
        angle=track.angle,
        opacity=track.opacity,
    )


def paint_tag(clip: np.ndarray, colour: tuple[float, float, float], side: int) -> None:
    """A solid square of ``colour`` in the top-left corner of every frame of ``clip``."""
    clip[:, :, :side, :side] = np.array(colour, dtype=np.float32)[:, None, None, None]


def background(
    rng: np.random.Generator, num_frames: int, size: int, saturation: float = 1.0
) -> np.ndarray:
    """Random colour blobs plus stripes, static over the clip, with fresh pixel noise per frame.

    ``saturation`` below 1 pulls the blobs' colours towards their grey level (the same random
    draws either way).
    """
    cells = rng.uniform(-0.2, 0.2, (1, 3, TEXTURE_CELLS, TEXTURE_CELLS))
    cells += rng.uniform(0.25, 0.75, 3)[None, :, None, None]
    if saturation != 1.0:
        grey = cells.mean(axis=1, keepdims=True)
        cells = grey + saturation * (cells - grey)
    blobs = F.interpolate(
        torch.from_numpy(cells.astype(np.float32)), size=(size, size), mode="bilinear"
    )
    coords = np.arange(size, dtype=np.float32) + 0.5
    direction = rng.uniform(0, np.pi)
    phase = np.cos(direction) * coords[None, :] + np.sin(direction) * coords[:, None]  # (H, W)
    frequency = rng.uniform(2, 8) * 2 * np.pi / size
    stripes = rng.uniform(0.03, 0.1) * np.sin(frequency * phase + rng.uniform(0, 2 * np.pi))
    texture = blobs[0].numpy() + stripes.astype(np.float32)  # (3, H, W)
    noise_amplitude = rng.uniform(0.03, 0.1)
    clip = rng.random((3, num_frames, size, size), dtype=np.float32)  # uniform: cheaper than normal
    clip -= 0.5
    clip *= 2 * noise_amplitude
    clip += texture[:, None]
    return clip  # (3, T, H, W)


def shape_distance(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A distance-like function of object coordinates (in radii) that equals 1 on the outline."""
    if shape == "disc":
        return np.sqrt(u * u + v * v)
    if shape == "ring":
        return np.abs(np.sqrt(u * u + v * v) - 0.7) / 0.3
    if shape == "cross":
        across, along = np.abs(u), np.abs(v)
        return np.minimum(np.maximum(across, along / 0.35), np.maximum(across / 0.35, along))
    sides = {"triangle": 3, "square": 4, "pentagon": 5, "hexagon": 6}[shape]
    apothem = np.cos(np.pi / sides)  # distance from the centre to each side, for circumradius 1
    normals = np.pi / 2 + 2 * np.pi * np.arange(sides) / sides
    distance = u * np.cos(normals[0]) + v * np.sin(normals[0])
    for normal in normals[1:]:
        distance = np.maximum(distance, u * np.cos(normal) + v * np.sin(normal))
    return distance / apothem


def paint(clip: np.ndarray, sprite: Sprite, track: Track) -> None:
    """Composite one object over ``clip`` (3, T, H, W) in place.

    Only a window around the object is drawn in each frame: a square of twice its reach, shifted
    inside the frame where the object crosses an edge.
    """
    _, num_frames, height, width = clip.shape
    reach = int(np.ceil(1.1 * track.radius.max())) + 2  # a cross's corners stick out to 1.06 radii
    window_h, window_w = min(2 * reach, height), min(2 * reach, width)
    top = np.clip(np.floor(track.y).astype(np.int64) - reach, 0, height - window_h)  # (T,)
    left = np.clip(np.floor(track.x).astype(np.int64) - reach, 0, width - window_w)
    rows = top[:, None] + np.arange(window_h)  # (T, h)
    columns = left[:, None] + np.arange(window_w)  # (T, w)
    dy = (rows + 0.5 - track.y[:, None]).astype(np.float32)[:, :, None]  # (T, h, 1)
    dx = (columns + 0.5 - track.x[:, None]).astype(np.float32)[:, None, :]  # (T, 1, w)
    cos = np.cos(track.angle).astype(np.float32)[:, None, None]
    sin = np.sin(track.angle).astype(np.float32)[:, None, None]
    radius = track.radius.astype(np.float32)[:, None, None]
    u = (cos * dx + sin * dy) / radius  # (T, h, w): rotated back into the object's own frame
    v = (cos * dy - sin * dx) / radius
    edge = (1 - shape_distance(sprite.shape, u, v)) * radius + 0.5  # a one-pixel soft outline
    alpha = np.clip(edge, 0, 1) * track.opacity.astype(np.float32)[:, None, None]  # (T, h, w)
    colour = np.array(sprite.colour, dtype=np.float32)[:, None, None, None]
    shade = np.array(sprite.shade, dtype=np.float32)[:, None, None, None]
    tone = np.where(v < sprite.split, colour, shade)  # (3, T, h, w)
    index = (slice(None), np.arange(num_frames)[:, None, None], rows[:, :, None], columns[:, None])
    window = clip[index]  # (3, T, h, w)
    window += alpha * (tone - window)
    clip[index] = window
