"""What a training study's configurations tell apart: each varying field's values against its
smallest, bLVNet-TAM against the other models at the same frames, the trend against frames, and
the verdicts on the paper's accuracy claims (on par or better at a fraction of the GMACs; Fig. 3a's
frames trend), every figure with its 95 % interval."""

import statistics
from collections.abc import Sequence
from typing import Any

from blvprof.report.markdown import CI, MISSING, interval, table
from blvprof.report.stats import CONFIDENCE, PAR_MARGIN, difference
from blvprof.report.train_groups import (
    PAPER_PEERS,
    Comparison,
    Config,
    FieldTrend,
    against_peers,
    field_comparisons,
    frame_trends,
)

# A mean top-1 at or above this leaves no room to rise: a trend cannot be tested beyond it.
CEILING = 0.98
# Fields compared value against value (the marginal effect of each), in this order.
COMPARED_FIELDS = ("config.alpha", "config.beta", "config.num_frames", "config.blending_frames")


def differences(configs: Sequence[Config]) -> list[str]:
    """Tables of the differences the study's design asks about, each with its interval."""
    rows, count = [], 0
    for field in COMPARED_FIELDS:
        for comparison in field_comparisons(configs, field):
            rows.append(_difference_row(comparison, comparison.a))
    peers = against_peers(configs)
    rows += [_difference_row(p, "") for p in peers]
    count = len(rows)
    if not rows:
        return []
    parts = [
        "### Which differences are larger than the noise",
        f"Differences of mean top-1 in points, with Welch's {CI} interval (unequal "
        "variances; seeds are not paired across models). A difference is larger than its "
        "uncertainty when its interval excludes zero.",
        table(["comparison", "model", "Δ top-1", f"{CI} CI", "p", "reading"], rows, "llrrrl"),
        f"{count} comparisons at {CI} each: about {count * (1 - CONFIDENCE):.1f} of "
        "them could exclude zero by chance alone.",
    ]
    trends = frame_trends(configs)
    if trends:
        parts.append(
            table(
                ["model", "top-1 change per doubling of frames", f"{CI} CI", "trend"],
                [
                    [
                        t.label,
                        f"{100 * t.trend.slope:+.1f} points",
                        interval(t.trend.low, t.trend.high, clip=False),
                        t.trend.direction,
                    ]
                    for t in trends
                ],
            )
        )
    return parts


def _difference_row(comparison: Comparison, model: str) -> list[Any]:
    delta = comparison.delta
    reading = (
        "larger than its uncertainty"
        if delta.significant
        else ("within the noise" if delta.low is not None else "one seed: no interval")
    )
    if delta.p_value is None:
        p_value = MISSING
    else:
        p_value = "< 0.001" if delta.p_value < 0.001 else f"{delta.p_value:.3f}"
    return [
        comparison.what,
        model or MISSING,
        f"{100 * delta.delta:+.1f}",
        interval(delta.low, delta.high, clip=False),
        p_value,
        reading,
    ]


def claims(configs: Sequence[Config]) -> list[str]:
    """Verdicts on the paper's accuracy claims, where the study has what each needs."""
    parts = []
    peers = [c for c in against_peers(configs) if c.b_family in PAPER_PEERS]
    if peers:
        parts += ["### The paper's accuracy claim: on par or better at a fraction of the cost"]
        parts.append(_peer_verdict(peers))
    trends = {t.family: t for t in frame_trends(configs)}
    if "tsn" in trends and "blvnet_tam" in trends:
        parts += ["### The paper's frames trend (Fig. 3a): TSN flat, bLVNet-TAM rising"]
        parts.append(_frames_verdict(trends["tsn"].trend.direction, trends["blvnet_tam"]))
    return parts


def _peer_verdict(peers: Sequence[Comparison]) -> str:
    lines = []
    for p in peers:
        standing = p.delta.standing
        cost = f"{p.gmacs_ratio:.2f}× fewer GMACs" if p.gmacs_ratio else "GMACs unknown"
        holds = {
            "higher": "holds (better)",
            "on par": f"holds (on par: the interval lies within ±{100 * PAR_MARGIN:.0f} points)",
            "lower": "does not hold (worse)",
        }.get(standing, "cannot be decided at this budget (the interval is too wide)")
        lines.append(
            f"- {p.what}: {100 * p.delta.delta:+.1f} points top-1, {CI} CI "
            f"{interval(p.delta.low, p.delta.high, clip=False)}, at {cost}: the claim {holds}."
        )
    return "**Verdict:**\n\n" + "\n".join(lines)


def _frames_verdict(tsn: str, ours: FieldTrend) -> str:
    said = (
        f"**Verdict:** TSN's top-1 is {tsn} with more frames; {ours.label}'s is "
        f"{ours.trend.direction} ({100 * ours.trend.slope:+.1f} points per doubling, "
        f"{CI} CI {interval(ours.trend.low, ours.trend.high, clip=False)}). "
    )
    holds = tsn == "flat" and ours.trend.direction == "rising"
    at_ceiling = [(f, t) for f, t in ours.top1s_by_frames if statistics.mean(t) >= CEILING]
    if holds or not at_ceiling:
        return said + ("The paper's trend holds here." if holds
                       else "The paper's trend does not hold here.")
    (fewest, fewest_top1s), (reached, reached_top1s) = ours.top1s_by_frames[0], at_ceiling[0]
    ceiling = (f"{ours.label} is at the benchmark's ceiling from {reached} frames on (top-1 "
               f"{100 * statistics.mean(reached_top1s):.1f} %), so beyond them there is no room "
               "for the rise the paper shows")
    if reached == fewest:
        return said + f"But {ceiling}: the trend cannot be tested on this benchmark."
    rise = difference(reached_top1s, fewest_top1s)
    reading = "larger than its uncertainty" if rise.significant else "within the noise"
    return said + (
        f"But {ceiling}. Below it, from {fewest} to {reached} frames, top-1 changes by "
        f"{100 * rise.delta:+.1f} points ({CI} CI {interval(rise.low, rise.high, clip=False)}, "
        f"{reading}): with the ceiling this close, the benchmark cannot test the trend."
    )
