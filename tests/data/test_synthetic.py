"""The synthetic benchmark: shapes, determinism, balance, and its time-reversed class pairs."""

from collections import Counter

import numpy as np
import pytest
import torch

import blvprof.data.shapes as shapes
import blvprof.data.synthetic as synthetic
from blvprof.data import DataBundle, DataError, build_datasets, parse_data_spec
from blvprof.data.synthetic import (
    PAIR_COLOURS,
    VERSIONS,
    SyntheticConfig,
    render_pair,
    synthetic_clip,
    synthetic_sample,
    target_track,
)

NUM_FRAMES, SIZE = 8, 32
MEAN = np.array([0.485, 0.456, 0.406])[:, None, None, None]  # ImageNet normalisation, (3, 1, 1, 1)
STD = np.array([0.229, 0.224, 0.225])[:, None, None, None]


def build(options: str = "", seed: int = 0) -> DataBundle:
    spec = parse_data_spec("synthetic" + (f":{options}" if options else ""))
    return build_datasets(spec, NUM_FRAMES, SIZE, seed=seed)


def test_bundle_describes_the_classes() -> None:
    bundle = build("classes=6,samples=40")
    assert bundle.num_classes == 6
    assert bundle.class_names == [
        "move_left", "move_right", "move_up", "move_down", "approach", "recede",
    ]  # fmt: skip
    assert bundle.reversed_pairs == [(0, 1), (2, 3), (4, 5)]
    assert not bundle.flip_allowed
    assert (len(bundle.train), len(bundle.val)) == (40, 10)
    assert bundle.bad_samples() == 0
    assert build().class_names[-4:] == [
        "rotate_clockwise", "rotate_counterclockwise", "appear", "disappear",
    ]  # fmt: skip


def test_shapes_and_dtypes() -> None:
    clip, label = build("samples=8").train[3]
    assert clip.shape == (3, NUM_FRAMES, SIZE, SIZE)
    assert clip.dtype == torch.float32
    assert isinstance(label, int)
    assert clip.is_contiguous()


def test_deterministic_per_seed_split_and_index() -> None:
    first, second = build("samples=8"), build("samples=8")
    assert torch.equal(first.train[5][0], second.train[5][0])
    assert not torch.equal(first.train[1][0], first.val[1][0])  # disjoint streams per split
    assert not torch.equal(first.train[5][0], build("samples=8,seed=1").train[5][0])
    assert torch.equal(
        build("samples=8,seed=1").train[5][0], build("samples=8", seed=1).train[5][0]
    )


def test_labels_are_balanced() -> None:
    bundle = build("classes=10,samples=200")
    counts = Counter(bundle.train[i][1] for i in range(len(bundle.train)))
    assert counts == dict.fromkeys(range(10), 20)


def test_the_validation_split_can_be_sized_apart_from_training() -> None:
    bundle = build("samples=40,val=30")
    assert (len(bundle.train), len(bundle.val)) == (40, 30)
    # The same clips, more of them.
    assert torch.equal(bundle.val[7][0], build("samples=400").val[7][0])


@pytest.mark.parametrize(
    "options", ["classes=3", "classes=12", "classes=0", "samples=2", "val=0"]
)
def test_invalid_options(options: str) -> None:
    with pytest.raises(DataError, match=options.split("=")[0]):
        build(options)


@pytest.mark.parametrize("version", VERSIONS)
def test_second_class_is_the_first_played_backwards(version: int) -> None:
    config = SyntheticConfig(classes=10, samples=16, seed=7, version=version)
    for index in (1, 3, 5, 7, 9):  # every pair's second class
        clip, label = synthetic_sample(config, "train", index, NUM_FRAMES, SIZE)
        rng = np.random.default_rng([7, 0, index])
        forward = np.clip(render_pair(label // 2, rng, NUM_FRAMES, SIZE, version), 0, 1)
        assert np.allclose(clip.numpy(), ((forward - MEAN) / STD)[:, ::-1], atol=1e-5)


# Time-reversal symmetry, checked statistically on 100 clips per class. Each frame is summarised by
# five numbers: mean level, fraction of strongly saturated pixels (objects are saturated, so this
# follows a growing or appearing target), and the mass and x/y centroid of the frame's deviation
# from the clip's temporal mean (which follows a moving target).
PROFILE_CLASSES, PROFILE_SAMPLES = 10, 1000


def frame_profile(clip: np.ndarray) -> np.ndarray:
    """(T, 5) summary of a normalised clip (3, T, H, W)."""
    rgb = clip * STD + MEAN
    saturated = (rgb.max(axis=0) - rgb.min(axis=0) > 0.7).mean(axis=(1, 2))
    grey = rgb.mean(axis=0)  # (T, H, W)
    deviation = np.abs(grey - grey.mean(axis=0))
    mass = deviation.sum(axis=(1, 2))
    coords = np.arange(grey.shape[-1]) + 0.5
    x = (deviation.sum(axis=1) * coords).sum(axis=1) / mass
    y = (deviation.sum(axis=2) * coords).sum(axis=1) / mass
    return np.stack([grey.mean(axis=(1, 2)), saturated, mass, x, y], axis=1)


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"v{v}")
def profiles(request: pytest.FixtureRequest) -> dict[int, np.ndarray]:
    """Class → (n, T, 5) frame profiles of its training clips, for each benchmark version."""
    bundle = build(f"classes={PROFILE_CLASSES},samples={PROFILE_SAMPLES},version={request.param}")
    by_class: dict[int, list[np.ndarray]] = {label: [] for label in range(PROFILE_CLASSES)}
    for index in range(len(bundle.train)):
        clip, label = bundle.train[index]
        by_class[label].append(frame_profile(clip.numpy()))
    return {label: np.stack(rows) for label, rows in by_class.items()}


def mean_gap_in_standard_errors(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|mean(a) - mean(b)| over the standard error of that difference, per trailing position.

    A feature constant in both samples (version 2's first frame of an appearing target holds only
    the corner tag) has no error: its gap is 0 if the constants agree, infinite if not.
    """
    error = np.sqrt(a.var(axis=0, ddof=1) / len(a) + b.var(axis=0, ddof=1) / len(b))
    gap = np.abs(a.mean(axis=0) - b.mean(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(error > 0, gap / error, np.where(gap > 0, np.inf, 0.0))


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic of two 1-D samples."""
    values = np.concatenate([a, b])
    cdf_a = np.searchsorted(np.sort(a), values, side="right") / len(a)
    cdf_b = np.searchsorted(np.sort(b), values, side="right") / len(b)
    return float(np.abs(cdf_a - cdf_b).max())


def ks_critical(n: int, m: int, alpha: float = 1e-4) -> float:
    return float(np.sqrt(-np.log(alpha / 2) / 2) * np.sqrt((n + m) / (n * m)))


@pytest.mark.parametrize("pair", range(PROFILE_CLASSES // 2))
def test_frame_t_of_a_matches_frame_T_minus_1_minus_t_of_b(
    profiles: dict[int, np.ndarray], pair: int
) -> None:
    first, second = profiles[2 * pair], profiles[2 * pair + 1]
    assert mean_gap_in_standard_errors(first, second[:, ::-1]).max() < 4.5


@pytest.mark.parametrize("pair", range(PROFILE_CLASSES // 2))
def test_order_blind_statistics_match_within_a_pair(
    profiles: dict[int, np.ndarray], pair: int
) -> None:
    first, second = profiles[2 * pair], profiles[2 * pair + 1]
    sorted_first, sorted_second = np.sort(first, axis=1), np.sort(second, axis=1)  # (n, T, 4)
    assert mean_gap_in_standard_errors(sorted_first, sorted_second).max() < 4.5
    critical = ks_critical(len(first), len(second))
    for position in range(NUM_FRAMES):
        for feature in range(first.shape[-1]):
            statistic = ks_statistic(
                sorted_first[:, position, feature], sorted_second[:, position, feature]
            )
            assert statistic < critical, (position, feature)


def test_the_checks_see_frame_order(profiles: dict[int, np.ndarray]) -> None:
    """Without reversal or sorting, the same statistics tell each pair's classes apart."""
    # left/right: x centroid; up/down: y centroid; approach/recede, appear/disappear: saturation
    for pair, feature in [(0, 3), (1, 4), (2, 1), (4, 1)]:
        first, second = profiles[2 * pair], profiles[2 * pair + 1]
        assert mean_gap_in_standard_errors(first, second)[:, feature].max() > 5, pair
    left, right = profiles[0][:, 0, 3], profiles[1][:, 0, 3]  # x centroid in the first frame
    assert ks_statistic(left, right) > ks_critical(len(left), len(right))


def test_version_3_is_the_default_and_is_recorded() -> None:
    assert build().benchmark == "synthetic-v3"
    assert build("version=2").benchmark == "synthetic-v2"
    assert build("version=1").benchmark == "synthetic-v1"
    with pytest.raises(DataError, match="version=4"):
        build("version=4")


def pixels_of(clip: np.ndarray, colour: tuple[float, float, float]) -> np.ndarray:
    """(T,) count of pixels within the jitter of ``colour`` in each frame of (3, T, H, W)."""
    target = np.array(colour)[:, None, None, None]
    return (np.abs(clip - target) <= 0.05).all(axis=0).sum(axis=(1, 2))


@pytest.mark.parametrize("label", range(10))
def test_every_frame_of_both_classes_carries_its_pairs_cue(label: int) -> None:
    """Version 2: each frame shows its pair's colour (at least the corner tag), no other pair's."""
    config = SyntheticConfig(classes=10, samples=200)
    tag = round(SIZE * 0.125) ** 2
    for index in range(label, 60, 10):
        clip, _ = synthetic_clip(config, "val", index, NUM_FRAMES, SIZE)
        for pair, colour in enumerate(PAIR_COLOURS):
            counts = pixels_of(clip, colour)
            if pair == label // 2:
                assert (counts >= tag).all(), counts
            else:
                assert (counts == 0).all(), (pair, counts)


@pytest.mark.parametrize("num_frames", [2, 3, 4, 8, 16])
def test_an_appearing_target_is_visible_in_a_third_of_the_frames(num_frames: int) -> None:
    for seed in range(200):
        track = target_track(4, np.random.default_rng(seed), num_frames, SIZE, version=2)
        shown = track.opacity >= 1.0
        assert shown.sum() >= -(-num_frames // 3) and shown[-1], track.opacity
        assert track.opacity[0] == 0.0, track.opacity  # absent at first: it appears


def test_a_rotating_target_turns_30_to_50_degrees_per_frame() -> None:
    for seed in range(50):
        track = target_track(3, np.random.default_rng(seed), NUM_FRAMES, SIZE, version=2)
        steps = np.degrees(np.diff(track.angle))
        assert np.allclose(steps, steps[0]) and 30 <= steps[0] <= 50


def painted_objects(pair: int, version: int, seed: int, monkeypatch: pytest.MonkeyPatch) -> list:
    """(sprite, track) of every object ``render_pair`` paints: distractors, target, mark."""
    painted: list = []
    real_paint = shapes.paint

    def recording_paint(clip, sprite, track) -> None:
        painted.append((sprite, track))
        real_paint(clip, sprite, track)

    monkeypatch.setattr(synthetic, "paint", recording_paint)
    render_pair(pair, np.random.default_rng(seed), NUM_FRAMES, SIZE, version)
    return painted


@pytest.mark.parametrize("version", [2, 3])
def test_a_rotating_target_is_a_disc_from_version_3(
    version: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """v3's rotating target is a disc of 0.22-0.28 frames' radius with a mark at 0.6 radii,
    0.32 radii across; v2's is a random shape of 0.18-0.24 with a mark at 0.55, 0.25 across."""
    seen_shapes = set()
    low, high = (0.22, 0.28) if version == 3 else (0.18, 0.24)
    offset, across = (0.6, 0.32) if version == 3 else (0.55, 0.25)
    for seed in range(40):
        *_, (target, track), (_, mark) = painted_objects(3, version, seed, monkeypatch)
        seen_shapes.add(target.shape)
        assert low * SIZE <= track.radius[0] <= high * SIZE
        reach = np.hypot(mark.x - track.x, mark.y - track.y)
        assert np.allclose(reach, offset * track.radius)
        assert np.allclose(mark.radius, across * track.radius)
    if version == 3:
        assert seen_shapes == {"disc"}
    else:
        assert len(seen_shapes) > 3, seen_shapes


def test_version_3_draws_the_other_pairs_targets_as_version_2(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only the rotating target and the mark changed: the same random shapes and poses."""
    for pair in (0, 1, 2, 4):
        for seed in range(5):
            v2 = painted_objects(pair, 2, seed, monkeypatch)
            v3 = painted_objects(pair, 3, seed, monkeypatch)
            assert [s for s, _ in v2] == [s for s, _ in v3]
            assert np.array_equal(v2[-2][1].x, v3[-2][1].x)
            assert np.array_equal(v2[-2][1].radius, v3[-2][1].radius)
