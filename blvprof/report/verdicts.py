"""Plain-words verdicts on the paper's claims: pure functions from numbers to one sentence.

The rules: a MAC ratio of at least 2.95 is within "3–4×" (above it past 4.05); a per-clip memory
ratio between 1.75 and 2.25 is "about 2×"; a figure within 0.5 % of the paper's matches it.
"""

from collections.abc import Sequence

FLOPS_WITHIN = (2.95, 4.05)
MEMORY_ABOUT_2X = (1.75, 2.25)
MATCH_TOLERANCE = 0.005


def flops_standing(ratio: float) -> str:
    """'within', 'above' or 'below' the claimed 3–4× reduction."""
    if ratio > FLOPS_WITHIN[1]:
        return "above"
    return "within" if ratio >= FLOPS_WITHIN[0] else "below"


def flops_verdict(baseline: str, ours: str, ratio: float, holds_at: Sequence[int] = ()) -> str:
    """'TSN-R101 vs bLVNet-TAM-101: 3.88× fewer MACs — within the claimed 3–4×'.

    ``holds_at`` lists the depths at which the same baseline pair meets the claim; a pair below
    it names them so the reader sees where the claim does hold.
    """
    standing = flops_standing(ratio)
    text = f"{baseline} vs {ours}: {ratio:.2f}× fewer MACs — {standing} the claimed 3–4×"
    if standing == "below" and holds_at:
        pairs = " and ".join(f"{d}-layer" for d in holds_at)
        text += f" (the claim holds for the {pairs} pair{'s' if len(holds_at) > 1 else ''} only)"
    return text


def memory_verdict(baseline: str, ours: str, ratios: Sequence[float]) -> str:
    """Verdict on "~2× less memory at equal frames" from per-clip training-memory ratios."""
    if not ratios:
        return f"No frame count has memory figures for both {baseline} and {ours}: no verdict."
    low, high = min(ratios), max(ratios)
    span = f"{low:.2f}×" if abs(high - low) < 0.005 else f"{low:.2f}–{high:.2f}×"
    about = MEMORY_ABOUT_2X[0] <= low and high <= MEMORY_ABOUT_2X[1]
    standing = (
        "about 2×, as the paper claims"
        if about
        else f"not about 2× (counted as about 2× between {MEMORY_ABOUT_2X[0]} and "
        f"{MEMORY_ABOUT_2X[1]}×)"
    )
    return (
        f"{ours} needs {span} less training memory per clip than {baseline} at equal frames "
        f"— {standing}."
    )


def rows_verdict(differences: dict[str, float | None]) -> str:
    """Verdict on the paper's rows from relative differences by row name (None: not measured)."""
    missing = [name for name, diff in differences.items() if diff is None]
    off = [
        f"{name} ({100 * diff:+.2f} %)"
        for name, diff in differences.items()
        if diff is not None and abs(diff) > MATCH_TOLERANCE
    ]
    measured = len(differences) - len(missing)
    if not measured:
        return "None of the paper's rows was measured: no verdict."
    if off:
        text = f"Not within 0.5 % of the paper: {', '.join(off)}"
    else:
        text = f"All {measured} measured figures are within 0.5 % of the paper"
    if missing:
        text += f"; not measured: {', '.join(missing)}"
    return text + "."


def speed_verdict(
    ours: str,
    baseline: str,
    frames: int,
    mac_ratio: float,
    infer_ratio: float,
    train_ratio: float | None,
    where: str,
) -> str:
    """'bLVNet-TAM-50 at 16 frames: 2.74× fewer MACs than TSN-R50, 1.10× faster inference …'."""

    def speed(ratio: float) -> str:
        return f"{ratio:.2f}× faster" if ratio >= 1 else f"{1 / ratio:.2f}× slower"

    text = (
        f"{ours} at {frames} frames: {mac_ratio:.2f}× fewer MACs than {baseline}, "
        f"{speed(infer_ratio)} at inference"
    )
    if train_ratio is not None:
        text += f" and {speed(train_ratio)} per training step"
    shares = [infer_ratio / mac_ratio] + ([train_ratio / mac_ratio] if train_ratio else [])
    realized = " / ".join(f"{100 * s:.0f} %" for s in shares)
    return f"{text} on {where}: the time saving realizes {realized} of the MAC saving."


def flops_headline(baseline: str, ratios_by_depth: dict[int, float]) -> str:
    """The FLOPs claim against the paper's baseline, over depths: where it holds and where not."""
    if not ratios_by_depth:
        return f"{baseline} and bLVNet-TAM share no frame count: no verdict."

    def pairs(depths: list[int]) -> str:
        return " and ".join(f"the {d}-layer pair ({ratios_by_depth[d]:.2f}×)" for d in depths)

    holds = [d for d, r in sorted(ratios_by_depth.items()) if flops_standing(r) != "below"]
    fails = [d for d in sorted(ratios_by_depth) if d not in holds]
    lead = f"Against {baseline}, the paper's baseline, the 3–4× claim"
    if not fails:
        return f"{lead} holds for {pairs(holds)}."
    if not holds:
        return f"{lead} does not hold: {pairs(fails)}."
    return f"{lead} holds for {pairs(holds)} but not for {pairs(fails)}."
