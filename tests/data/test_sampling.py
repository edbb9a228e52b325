"""Which frames a clip takes: segment centres for evaluation, one per segment for training."""

import numpy as np

from blvprof.data.sampling import FrameSampling, dense_indices, sample_indices, segment_indices


def test_eval_takes_segment_centres() -> None:
    assert segment_indices(12, 4, None).tolist() == [1, 4, 7, 10]
    assert segment_indices(10, 4, None).tolist() == [1, 3, 6, 8]  # tick 2.5: 1.25, 3.75, ...


def test_train_takes_one_frame_inside_each_segment() -> None:
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        indices = segment_indices(12, 4, rng)
        assert all(3 * k <= index < 3 * (k + 1) for k, index in enumerate(indices))
        seen.add(tuple(indices))
    assert len(seen) > 20  # really random


def test_uneven_segments_cover_the_video() -> None:
    rng = np.random.default_rng(1)
    draws = np.stack([segment_indices(10, 3, rng) for _ in range(300)])
    assert draws.min() == 0 and draws.max() == 9
    assert (np.diff(draws, axis=1) > 0).all()  # one frame per disjoint segment, in order


def test_fewer_frames_than_segments_repeat_evenly() -> None:
    expected = [0, 0, 1, 1, 2, 2]
    assert segment_indices(3, 6, None).tolist() == expected
    assert segment_indices(3, 6, np.random.default_rng(0)).tolist() == expected


def test_dense_eval_is_central_and_train_random() -> None:
    assert dense_indices(20, 4, 2, None).tolist() == [6, 8, 10, 12]  # span 7, spare 13 → start 6
    rng = np.random.default_rng(0)
    starts = {int(dense_indices(20, 4, 2, rng)[0]) for _ in range(200)}
    assert starts == set(range(14))
    assert (np.diff(dense_indices(20, 4, 3, rng)) == 3).all()


def test_dense_loops_short_videos() -> None:
    assert dense_indices(5, 4, 2, None).tolist() == [0, 2, 4, 1]


def test_sample_indices_dispatches() -> None:
    assert sample_indices(12, FrameSampling(4), None).tolist() == [1, 4, 7, 10]
    assert sample_indices(12, FrameSampling(4, dense=True, stride=1), None).tolist() == [4, 5, 6, 7]
