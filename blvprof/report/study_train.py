"""The training part of a study report: accuracy against cost, by the config fields that vary."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from blvprof.report import charts
from blvprof.report.markdown import MISSING, image, number, percent, table
from blvprof.report.profiles import ok_runs
from blvprof.report.study_accuracy import alpha_beta_chart, frames_chart, pareto_chart
from blvprof.report.train_rows import (
    TRAIN_FIELDS,
    describe,
    short_name,
    train_order,
    train_summary,
    varying_fields,
)

PAIR_EXPECTATION = (
    "Within a time-reversed pair (e.g. moving left vs moving right) the frames are the same and "
    "only their order differs, so an order-blind model such as TSN sits at ~50 % there; a model "
    "that uses temporal order should be well above it."
)
# The most pairs shown as columns of the per-pair table.
MAX_PAIR_COLUMNS = 8
# Families without a temporal module: TSN sees each frame on its own, bLVNet without TAM each
# pair of neighbouring frames; neither can follow an object's motion through the clip.
ORDER_BLIND = ("tsn", "blvnet")
# A pair no run gets above this is called not learned.
LEARNED_PAIR = 0.65
LEARNED_NOTHING = 1.5  # a final top-1 below this many times chance (1 / classes)


def _table(summaries: Sequence[dict[str, Any]], fields: Sequence[str]) -> str:
    headers = [
        "model",
        *(short_name(f) for f in fields),
        "GMACs",
        "top-1",
        "top-5",
        "best top-1",
        "within-pair acc.",
        "s/epoch",
    ]
    rows = [
        [
            s["label"],
            *(s["fields"].get(f, MISSING) for f in fields),
            number(s["gmacs"]),
            percent(s["top1"]),
            percent(s["top5"]),
            percent(s["best_top1"]),
            percent(s["pair_mean"]),
            number(s["seconds_per_epoch"], 1),
        ]
        for s in summaries
    ]
    return table(headers, [[MISSING if c is None else c for c in row] for row in rows])


def _setting_line(summaries: Sequence[dict[str, Any]], fields: Sequence[str]) -> str:
    fixed = [
        f"{short_name(f'train.{k}')} {summaries[0]['fields'].get(f'train.{k}')}"
        for k in TRAIN_FIELDS
        if f"train.{k}" not in fields and summaries[0]["fields"].get(f"train.{k}") is not None
    ]
    text = "Top-1 and top-5 are final validation accuracies; best top-1 is over all epochs."
    text += f" Same for every run: {', '.join(fixed)}." if fixed else ""
    if "train.seed" not in fields:
        text += (
            " Each row is one run with one seed, so this report cannot say how far a row would "
            "move with another seed: before reading a difference, rerun the study with another "
            "`seed` in its `[train]` table."
        )
    return text


def train_section(runs: list[dict[str, Any]], out_dir: Path, study: str) -> str:
    """Markdown for the study's training runs, writing its charts beside it; '' if none."""
    summaries = sorted((train_summary(r) for r in ok_runs(runs, "train")), key=train_order)
    if not summaries:
        return ""
    fields = varying_fields(summaries)
    parts = ["## Training results", _setting_line(summaries, fields), _table(summaries, fields)]
    parts += accuracy_charts(summaries, fields, out_dir, study)
    spread = seed_reading(summaries, fields)
    if spread:
        parts.append(f"**Seeds:** {spread}")
    if any(s["pair_mean"] is not None for s in summaries):
        parts += ["### Temporal order: accuracy within reversed pairs", PAIR_EXPECTATION]
        parts += _pair_parts(summaries, fields, out_dir, study)
        reading = pair_reading(summaries, fields)
        if reading:
            parts.append("**Reading:**\n\n" + "\n".join(f"- {line}" for line in reading))
    return "\n\n".join(parts)


def _pair_parts(
    summaries: Sequence[dict[str, Any]], fields: Sequence[str], out_dir: Path, study: str
) -> list[str]:
    paired = [s for s in summaries if s["pair_mean"] is not None]
    bars = [
        charts.Point(
            s["label"],
            0.0,
            s["pair_mean"],
            f"{s['label']} {describe(s, fields)}".strip(),
            s["family"],
        )
        for s in paired
    ]
    png = charts.pair_accuracy_bars(
        bars,
        out_dir / f"{study}-pair-accuracy.png",
        f"{study}: accuracy within time-reversed class pairs",
    )
    parts = [image("Accuracy within time-reversed class pairs", png, out_dir)]
    names = sorted({name for s in paired for name in s["pairs"]})
    if 0 < len(names) <= MAX_PAIR_COLUMNS:
        headers = ["run", *(n.replace("|", " vs ") for n in names)]
        rows = [
            [bar.note, *(percent(s["pairs"].get(n)) for n in names)]
            for bar, s in zip(bars, paired, strict=True)
        ]
        parts.append(table(headers, rows))
    return parts


def pair_reading(summaries: Sequence[dict[str, Any]], fields: Sequence[str]) -> list[str]:
    """Sentences on the within-pair figures: order-blind models against chance, the others'
    range, and any pair that no run learned."""
    paired = [s for s in summaries if s["pair_mean"] is not None]

    def name(s: dict[str, Any]) -> str:
        return f"{s['label']} {describe(s, fields)}".strip()

    def listing(chosen: Sequence[dict[str, Any]]) -> str:
        return ", ".join(f"{name(s)} {percent(s['pair_mean'])}" for s in chosen)

    untrained = [s for s in paired if _learned_nothing(s)]
    blind = [s for s in paired if s["family"] in ORDER_BLIND and s not in untrained]
    aware = [s for s in paired if s["family"] not in ORDER_BLIND and s not in untrained]
    lines = []
    if untrained:
        runs = ", ".join(
            f"{name(s)} {percent(s['top1'])} (chance {percent(1 / s['num_classes'])})"
            for s in untrained
        )
        lines.append(
            f"Learned nothing (final top-1 below {LEARNED_NOTHING:g}× chance): {runs}. Their "
            "within-pair figures say nothing about frame order, and they are left out below."
        )
    if blind:
        lines.append(
            f"Without a temporal module (no information flows between frames, beyond a frame "
            f"pair in bLVNet): {listing(blind)}, against 50 % for a model blind to frame order."
        )
    if aware:
        best = max(aware, key=lambda s: s["pair_mean"])
        low, high = min(s["pair_mean"] for s in aware), best["pair_mean"]
        span = percent(high) if low == high else f"{percent(low)} to {percent(high)}"
        lines.append(
            f"Models with a temporal module: {span} within pairs (best: {name(best)})."
        )
    for pair in sorted({p for s in paired for p in s["pairs"]}):
        scores = [s["pairs"][pair] for s in paired if s["pairs"].get(pair) is not None]
        if scores and max(scores) < LEARNED_PAIR:
            lines.append(
                f"No run tells {pair.replace('|', ' from ')} apart (best {percent(max(scores))}, "
                f"below {percent(LEARNED_PAIR)}): that pair is not learned with this budget."
            )
    return lines


def seed_reading(summaries: Sequence[dict[str, Any]], fields: Sequence[str]) -> str:
    """How far top-1 moves between seeds of one configuration, at the most; '' with one seed."""
    others = [f for f in fields if f != "train.seed"]
    groups: dict[str, list[float]] = {}
    for s in summaries:
        if s["top1"] is not None:
            groups.setdefault(f"{s['label']} {describe(s, others)}".strip(), []).append(s["top1"])
    spreads = {name: (min(top1), max(top1)) for name, top1 in groups.items() if len(top1) > 1}
    if not spreads:
        return ""
    name, (low, high) = max(spreads.items(), key=lambda item: item[1][1] - item[1][0])
    return (
        f"top-1 moves by up to {100 * (high - low):.1f} points between seeds of one "
        f"configuration ({name}: {percent(low)} to {percent(high)}); differences between "
        "configurations smaller than that are within seed noise at this training budget."
    )


def _learned_nothing(summary: dict[str, Any]) -> bool:
    top1, classes = summary.get("top1"), summary.get("num_classes")
    return top1 is not None and bool(classes) and top1 < LEARNED_NOTHING / classes


def accuracy_charts(
    summaries: Sequence[dict[str, Any]], fields: Sequence[str], out_dir: Path, study: str
) -> list[str]:
    """Accuracy vs GMACs (Pareto), the α×β heatmap and accuracy vs frames, where the data allow."""
    links = [pareto_chart(summaries, fields, out_dir, study)]
    if {"config.alpha", "config.beta"} <= set(fields):
        links.append(alpha_beta_chart(summaries, fields, out_dir, study))
    if "config.num_frames" in fields:
        links.append(frames_chart(summaries, fields, out_dir, study))
    return [link for link in links if link]
