"""A procedurally generated, order-sensitive benchmark: a tiny Something-Something.

Every clip shows one target object doing one of five motions over a textured, noisy background with
two drifting distractors. Classes come in time-reversed pairs (move left/right, up/down, approach/
recede, rotate clockwise/counter-clockwise, appear/disappear). A clip of a pair's second class is a
clip generated exactly like one of its first class, played backwards, so both classes have the same
distribution of frames: a model that ignores frame order is at chance within each pair.

Three versions (``version`` in the data spec, recorded in every run as ``benchmark``):

- **3 (the default): a known order-blind ceiling, every pair learnable.** The target has its pair's
  colour, a tag of that colour sits in a corner of every frame, and distractors and background are
  unsaturated, so every frame names its pair and an order-blind model's expected score is known
  exactly: pair identity 100 %, top-1 50 % (pair named, order guessed), within-pair accuracy 50 %.
  An appearing target is visible in at least a third of the frames. A rotating target is a large
  two-tone disc turning 30–50° per frame with a large off-centre mark: its outline says nothing, so
  no shape's symmetry can make the turn look reversed, and the split and the mark show the turn.
- **2: as 3, but the rotating target is a random shape** (square, pentagon, hexagon and cross
  repeat after 90°, 72°, 60° and 90°, so at 30–50° per frame the outline of some seems to turn the
  other way) with a smaller mark. Short runs often leave its rotation pair at 50 % within the pair
  (docs/recipe.md).
- **1: the harder first version.** One target of a random colour at a random place: a single frame
  says almost nothing about which pair a clip belongs to, so models that see one frame at a time
  (TSN) or one frame pair (bLVNet without TAM) have no foothold, and temporal models depend on the
  seed to find one.

Clips are generated on the fly from (seed, split, index); nothing is stored.
"""

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch

from blvprof.data.clips import ClipSet
from blvprof.data.shapes import (
    MARK,
    Track,
    background,
    coloured_sprite,
    grey_sprite,
    mark_track,
    paint,
    paint_tag,
    random_sprite,
)
from blvprof.data.spec import DataError
from blvprof.data.transforms import IMAGENET_MEAN, IMAGENET_STD

PAIR_NAMES = (
    ("move_left", "move_right"),
    ("move_up", "move_down"),
    ("approach", "recede"),
    ("rotate_clockwise", "rotate_counterclockwise"),
    ("appear", "disappear"),
)
SPLIT_STREAMS = {"train": 0, "val": 1}  # disjoint random streams per split
DISTRACTORS = 2
VERSIONS = (1, 2, 3)
LATEST_VERSION = 3
# Versions 2 and 3's pair colours (RGB): far apart in hue, all saturated; nothing else in a clip is.
PAIR_COLOURS = (
    (0.95, 0.12, 0.10),  # red: move left / right
    (0.10, 0.85, 0.15),  # green: move up / down
    (0.12, 0.30, 0.98),  # blue: approach / recede
    (0.98, 0.88, 0.05),  # yellow: rotate clockwise / counter-clockwise
    (0.90, 0.08, 0.92),  # magenta: appear / disappear
)
COLOUR_JITTER = 0.04  # per channel, so the cue is a colour range, not one exact value
TAG_FRACTION = 0.125  # the corner tag's side, as a fraction of the frame's
TURN_PER_FRAME = (np.pi / 6, 5 * np.pi / 18)  # 30–50°: under 180°, so the direction is unambiguous
# A rotating target's radius, as a fraction of the frame's side, by version (others: 0.1–0.16).
ROTATING_RADIUS = {2: (0.18, 0.24), 3: (0.22, 0.28)}
# The mark's offset from the centre and its radius, in the target's radii, by version.
MARK_GEOMETRY = {2: (0.55, 0.25), 3: (0.6, 0.32)}

Split = Literal["train", "val"]


@dataclass(frozen=True)
class SyntheticConfig:
    classes: int = 10  # even, 2..10: the first classes // 2 motion pairs
    samples: int = 2000  # training clips
    val: int | None = None  # validation clips; None: samples // 4
    seed: int = 0
    version: int = LATEST_VERSION  # see the module docstring

    def __post_init__(self) -> None:
        if self.version not in VERSIONS:
            raise DataError(f"synthetic option version={self.version}: must be one of {VERSIONS}")
        if self.classes % 2 or not 2 <= self.classes <= 2 * len(PAIR_NAMES):
            raise DataError(f"synthetic option classes={self.classes}: must be even, 2..10")
        if self.samples < 4:
            raise DataError(f"synthetic option samples={self.samples}: must be at least 4")
        if self.val is not None and self.val < 1:
            raise DataError(f"synthetic option val={self.val}: must be at least 1")

    def split_size(self, split: Split) -> int:
        if split == "train":
            return self.samples
        return self.samples // 4 if self.val is None else self.val

    @property
    def benchmark(self) -> str:
        """The name runs record, so rows of two versions never mix in a report."""
        return f"synthetic-v{self.version}"


def class_names(classes: int) -> list[str]:
    return [name for pair in PAIR_NAMES[: classes // 2] for name in pair]


def reversed_pairs(classes: int) -> list[tuple[int, int]]:
    return [(label, label + 1) for label in range(0, classes, 2)]


def _still(value: float, num_frames: int) -> np.ndarray:
    return np.full(num_frames, value)


def _drift(rng: np.random.Generator, centre: float, spread: float, num_frames: int) -> np.ndarray:
    """A slow straight drift within ±spread of a random centre; symmetric in direction."""
    start, end = rng.uniform(centre - spread, centre + spread, 2)
    return np.linspace(start, end, num_frames)


def target_track(
    pair: int, rng: np.random.Generator, num_frames: int, size: int, version: int = LATEST_VERSION
) -> Track:
    """The target's poses for the first class of ``pair``; the second class plays them backwards."""
    t = np.linspace(0.0, 1.0, num_frames)
    x = _drift(rng, size * rng.uniform(0.35, 0.65), size * 0.04, num_frames)
    y = _drift(rng, size * rng.uniform(0.35, 0.65), size * 0.04, num_frames)
    radius = _still(size * rng.uniform(0.1, 0.16), num_frames)
    angle = _still(rng.uniform(0, 2 * np.pi), num_frames)
    opacity = _still(1.0, num_frames)
    if pair == 0:  # move left: start right of centre, travel a third to a half of the frame
        start = size * rng.uniform(0.6, 0.85)
        x = np.linspace(start, start - size * rng.uniform(0.35, 0.5), num_frames)
    elif pair == 1:  # move up: rows decrease
        start = size * rng.uniform(0.6, 0.85)
        y = np.linspace(start, start - size * rng.uniform(0.35, 0.5), num_frames)
    elif pair == 2:  # approach: grow two to three times
        start = size * rng.uniform(0.06, 0.09)
        radius = start * np.linspace(1.0, rng.uniform(2.0, 3.0), num_frames)
    elif pair == 3 and version >= 2:  # rotate clockwise, larger, by a fixed turn per frame
        radius = _still(size * rng.uniform(*ROTATING_RADIUS[version]), num_frames)
        angle = angle[0] + rng.uniform(*TURN_PER_FRAME) * np.arange(num_frames)
    elif pair == 3:  # rotate clockwise by a quarter to five eighths of a turn
        angle = angle[0] + np.linspace(0.0, rng.uniform(0.5, 1.25) * np.pi, num_frames)
    elif version >= 2:
        opacity = _appearing(rng, num_frames)
    elif rng.random() < 0.5:  # appear by fading in over part of the clip
        opacity = np.clip((t - rng.uniform(0.0, 0.5)) / rng.uniform(0.2, 0.5), 0.0, 1.0)
    else:  # appear by popping in at a random frame
        opacity = (np.arange(num_frames) >= rng.integers(1, max(num_frames, 2))).astype(float)
    return Track(x, y, radius, angle, opacity)


def _appearing(rng: np.random.Generator, num_frames: int) -> np.ndarray:
    """Absent, then present in at least a third of the frames (and in its last one)."""
    shown = max(1, -(-num_frames // 3))  # ceil(T / 3)
    first = rng.integers(1, max(num_frames - shown, 1) + 1) if num_frames > 1 else 0
    frames = np.arange(num_frames)
    if rng.random() < 0.5:  # pop in
        return (frames >= first).astype(float)
    fade = rng.integers(1, max(first, 1) + 1)  # fade in over up to `first` frames before it
    return np.clip((frames - (first - fade)) / fade, 0.0, 1.0)


def distractor_track(rng: np.random.Generator, num_frames: int, size: int) -> Track:
    """A smaller object drifting in a random direction and spinning slowly."""
    heading = rng.uniform(0, 2 * np.pi)
    travel = size * rng.uniform(0.0, 0.25) * np.linspace(-0.5, 0.5, num_frames)
    spin = rng.uniform(-0.5, 0.5) * np.pi * np.linspace(0.0, 1.0, num_frames)
    return Track(
        x=size * rng.uniform(0.15, 0.85) + np.cos(heading) * travel,
        y=size * rng.uniform(0.15, 0.85) + np.sin(heading) * travel,
        radius=_still(size * rng.uniform(0.05, 0.08), num_frames),
        angle=rng.uniform(0, 2 * np.pi) + spin,
        opacity=_still(1.0, num_frames),
    )


def render_pair(
    pair: int, rng: np.random.Generator, num_frames: int, size: int, version: int = LATEST_VERSION
) -> np.ndarray:
    """A clip (3, T, H, W) in 0..1 of the first class of ``pair``."""
    if version == 1:
        clip = background(rng, num_frames, size)
        for _ in range(DISTRACTORS):
            paint(clip, random_sprite(rng), distractor_track(rng, num_frames, size))
        paint(clip, random_sprite(rng), target_track(pair, rng, num_frames, size, version))
        return clip
    clip = background(rng, num_frames, size, saturation=0.3)
    for _ in range(DISTRACTORS):
        paint(clip, grey_sprite(rng), distractor_track(rng, num_frames, size))
    colour = pair_colour(pair, rng)
    track = target_track(pair, rng, num_frames, size, version)
    sprite = coloured_sprite(rng, colour)
    if pair == 3 and version >= 3:  # a disc: only the split and the mark show the turn
        sprite = replace(sprite, shape="disc")
    paint(clip, sprite, track)
    paint(clip, MARK, mark_track(track, *MARK_GEOMETRY[version]))
    paint_tag(clip, colour, max(2, round(size * TAG_FRACTION)))
    return clip


def pair_colour(pair: int, rng: np.random.Generator) -> tuple[float, float, float]:
    """Version 2's cue: the pair's colour, jittered a little per clip."""
    jitter = rng.uniform(-COLOUR_JITTER, COLOUR_JITTER, 3)
    r, g, b = np.clip(np.array(PAIR_COLOURS[pair]) + jitter, 0.0, 1.0)
    return (float(r), float(g), float(b))


def synthetic_clip(config: SyntheticConfig, split: Split, index: int, num_frames: int, size: int
                   ) -> tuple[np.ndarray, int]:
    """The clip (3, T, size, size) in 0..1, before normalisation, and its label."""
    label = index % config.classes  # balanced labels
    rng = np.random.default_rng([config.seed, SPLIT_STREAMS[split], index])
    clip = render_pair(label // 2, rng, num_frames, size, config.version)
    if label % 2:  # the pair's second class is the first one played backwards
        clip = np.ascontiguousarray(clip[:, ::-1])
    np.clip(clip, 0, 1, out=clip)
    return clip, label


def synthetic_sample(
    config: SyntheticConfig, split: Split, index: int, num_frames: int, size: int
) -> tuple[torch.Tensor, int]:
    """The normalised clip (3, T, size, size) and label of one sample."""
    clip, label = synthetic_clip(config, split, index, num_frames, size)
    clip -= np.array(IMAGENET_MEAN, dtype=np.float32)[:, None, None, None]
    clip /= np.array(IMAGENET_STD, dtype=np.float32)[:, None, None, None]
    return torch.from_numpy(clip), label


class SyntheticDataset(ClipSet):
    """One split of the synthetic benchmark at a fixed clip length and frame size."""

    def __init__(self, config: SyntheticConfig, split: Split, num_frames: int, size: int):
        self.config = config
        self.split: Split = split
        self.num_frames = num_frames
        self.size = size

    def __len__(self) -> int:
        return self.config.split_size(self.split)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        return synthetic_sample(self.config, self.split, index, self.num_frames, self.size)
