"""Seed statistics against hand-computed answers (t quantiles from tables: t(0.975, 2) = 4.302653,
t(0.975, 4) = 2.776445)."""

import math

import pytest

from blvprof.report.stats import Difference, difference, estimate, trend


def test_estimate_of_three_seeds() -> None:
    value = estimate([0.8, 0.9, 1.0])
    assert (value.n, value.mean, value.std) == (3, pytest.approx(0.9), pytest.approx(0.1))
    half = 4.302653 * 0.1 / math.sqrt(3)  # 0.248413
    assert value.low == pytest.approx(0.9 - half, abs=1e-6)
    assert value.high == pytest.approx(0.9 + half, abs=1e-6)


def test_estimate_of_one_seed_has_no_interval_and_equal_seeds_a_point() -> None:
    assert estimate([0.5]) == estimate([0.5]).__class__(1, 0.5, None, None, None)
    same = estimate([0.7, 0.7, 0.7])
    assert (same.std, same.low, same.high) == (0.0, 0.7, 0.7)
    with pytest.raises(ValueError):
        estimate([])


def test_welch_difference_by_hand() -> None:
    # Both variances 1, n 3: standard error sqrt(2/3), Welch df 4, t = -3 / 0.816497 = -3.674235.
    result = difference([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    half = 2.776445 * math.sqrt(2 / 3)  # 2.266958
    assert result.delta == pytest.approx(-3.0)
    assert result.low == pytest.approx(-3.0 - half, abs=1e-5)
    assert result.high == pytest.approx(-3.0 + half, abs=1e-5)
    assert result.p_value == pytest.approx(0.02131, abs=1e-4)
    assert result.significant and result.standing == "lower"


def test_a_difference_within_the_noise_is_not_significant() -> None:
    result = difference([0.50, 0.60, 0.70], [0.55, 0.65, 0.45])
    assert result.low is not None and result.low < 0 < (result.high or 0)
    assert not result.significant and result.standing == "not distinguishable"


def test_standing_on_par_needs_the_whole_interval_inside_the_margin() -> None:
    assert Difference(0.001, -0.02, 0.025, 0.9).standing == "on par"
    assert Difference(0.001, -0.04, 0.025, 0.9).standing == "not distinguishable"
    assert Difference(0.05, 0.01, 0.09, 0.01).standing == "higher"
    assert Difference(0.0, None, None, None).standing == "not distinguishable"
    assert not difference([0.5], [0.4, 0.6]).significant  # one seed: no interval


def test_trend_per_doubling_by_hand() -> None:
    exact = trend([4, 8, 16], [0.1, 0.2, 0.3])
    assert exact.slope == pytest.approx(0.1) and exact.direction == "rising"
    # log2 x = 2, 2, 3, 3; slope 0.1; residuals ±0.1: s² = 0.04 / 2, Sxx = 1, stderr 0.141421.
    noisy = trend([4, 4, 8, 8], [0.1, 0.3, 0.2, 0.4])
    half = 4.302653 * math.sqrt(0.02)
    assert noisy.slope == pytest.approx(0.1)
    assert noisy.low == pytest.approx(0.1 - half, abs=1e-5)
    assert noisy.high == pytest.approx(0.1 + half, abs=1e-5)
    assert noisy.direction == "flat"
    assert trend([4, 8, 16], [0.3, 0.2, 0.1]).direction == "falling"
    with pytest.raises(ValueError):
        trend([8, 8], [0.1, 0.2])
