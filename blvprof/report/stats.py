"""Seed statistics for short training runs: estimates with confidence intervals, differences
between configurations with theirs, and a trend against a numeric field (scipy.stats throughout).

Every function takes plain numbers (one value per seed) and returns a frozen record; nothing here
renders. Intervals are two-sided 95 % Student-t intervals: with 3 seeds the t quantile is 4.30, so
an interval is wide unless the seeds agree. A difference is Welch's (unequal variances, unpaired:
a seed fixes the data order but not the initial weights of two different models), and it is called
larger than its uncertainty when its interval excludes zero. Each interval holds for its comparison
alone; a report that makes k comparisons says so. (The standard deviation is the standard
library's, which is exact where all seeds agree.)
"""

import math
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

CONFIDENCE = 0.95
# "On par": a difference whose whole interval lies within this many points (of accuracy, as a
# fraction) of zero. Wider intervals that include zero are "not distinguishable", not "on par".
PAR_MARGIN = 0.03


@dataclass(frozen=True)
class Estimate:
    """The mean of one configuration's seeds, with its spread and 95 % interval."""

    n: int
    mean: float
    std: float | None  # sample standard deviation (ddof 1); None with one seed
    low: float | None  # the interval's bounds; None with one seed
    high: float | None

    def clipped(self) -> tuple[float, float] | None:
        """The interval within 0..1 (a t interval of an accuracy can pass 100 %), or None."""
        if self.low is None or self.high is None:
            return None
        return (max(self.low, 0.0), min(self.high, 1.0))


@dataclass(frozen=True)
class Difference:
    """``a - b`` of two configurations' seed means, with Welch's 95 % interval and p-value."""

    delta: float
    low: float | None  # None when either side has one seed, or both have no spread
    high: float | None
    p_value: float | None

    @property
    def significant(self) -> bool:
        """The interval excludes zero: the difference is larger than its uncertainty."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    @property
    def standing(self) -> str:
        """'higher', 'lower', 'on par' (interval within ±PAR_MARGIN) or 'not distinguishable'."""
        if self.low is None or self.high is None:
            return "not distinguishable"
        if self.low > 0:
            return "higher"
        if self.high < 0:
            return "lower"
        if self.low >= -PAR_MARGIN and self.high <= PAR_MARGIN:
            return "on par"
        return "not distinguishable"


@dataclass(frozen=True)
class Trend:
    """A least-squares line of the values against log2 of a field (per doubling), with its
    interval: the slope's sign is the trend, when the interval excludes zero."""

    slope: float  # change per doubling of the field
    low: float | None
    high: float | None
    points: int

    @property
    def direction(self) -> str:
        """'rising', 'falling' or 'flat' (the interval includes zero)."""
        if self.low is not None and self.low > 0:
            return "rising"
        if self.high is not None and self.high < 0:
            return "falling"
        return "flat"


def estimate(values: Sequence[float]) -> Estimate:
    """Mean, standard deviation and 95 % t-interval of ``values`` (one per seed)."""
    if not values:
        raise ValueError("an estimate needs at least one value")
    n, mean = len(values), float(statistics.mean(values))  # exactly rounded
    if n == 1:
        return Estimate(1, mean, None, None, None)
    std = statistics.stdev(values)  # exact for equal values, where scipy's tstd leaves ~1e-16
    if std == 0:
        return Estimate(n, mean, 0.0, mean, mean)
    low, high = stats.t.interval(CONFIDENCE, n - 1, loc=mean, scale=std / math.sqrt(n))
    return Estimate(n, mean, std, float(low), float(high))


def difference(a: Sequence[float], b: Sequence[float]) -> Difference:
    """``mean(a) - mean(b)`` with Welch's 95 % interval."""
    delta = float(statistics.mean(a)) - float(statistics.mean(b))
    if len(a) < 2 or len(b) < 2 or statistics.stdev(a) == statistics.stdev(b) == 0:
        return Difference(delta, None, None, None)
    with warnings.catch_warnings():
        # one side with (nearly) no spread, e.g. every seed at 100 %: scipy warns of precision
        # loss in its moments, and the interval is still the right one (the other side's)
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(a, b, equal_var=False)
        interval = result.confidence_interval(CONFIDENCE)
    return Difference(delta, float(interval.low), float(interval.high), float(result.pvalue))


def trend(xs: Sequence[float], ys: Sequence[float]) -> Trend:
    """Slope of ``ys`` against log2(``xs``), every seed a point, with its 95 % interval."""
    if len(set(xs)) < 2:
        raise ValueError("a trend needs at least two distinct values of the field")
    logs = [math.log2(x) for x in xs]
    fit = stats.linregress(logs, ys)
    if len(xs) < 3:
        return Trend(float(fit.slope), None, None, len(xs))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, len(xs) - 2)) * float(fit.stderr)
    return Trend(float(fit.slope), fit.slope - half, fit.slope + half, len(xs))
