"""The profile part of a study report: one table with ratios, and the efficiency charts, for
each device the study's rows were measured on."""

from pathlib import Path
from typing import Any

from blvprof.report import charts
from blvprof.report.markdown import budget_text, image, memory_method_text, slug, table
from blvprof.report.profiles import (
    by_device,
    distinct,
    profile_summaries,
    series,
    sort_key,
    speed_points,
)
from blvprof.report.summary import FIGURES, RATIO_METRICS, add_ratios, format_cell, header

# Table columns in order; 'label' and 'side' are rendered here, the rest by summary.format_cell.
COLUMNS = ("label", "depth", "frames", "side", *(c.key for c in FIGURES))
_HEADERS = {"label": "model", "side": "input (px)", "max_batch": "max batch @ budget"}


def reference_model(summaries: list[dict[str, Any]]) -> str:
    """The model ratios are taken to: TSN when the study has it, else the first row's."""
    for summary in summaries:
        if summary["family"] == "tsn":
            return str(summary["model"])
    return str(summaries[0]["model"])


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    one_side = len(distinct(rows, "side")) < 2  # then the notes state it once
    present = [
        c
        for c in COLUMNS
        if any(r.get(c) is not None for r in rows) and not (one_side and c == "side")
    ]
    if len({r["model"] for r in rows}) < 2:
        return present
    return present + [f"{m}_ratio" for m in RATIO_METRICS if any(f"{m}_ratio" in r for r in rows)]


def _cell(column: str, value: Any) -> str:
    if column in ("label", "side"):
        return "–" if value is None else str(value)
    return format_cell(column, value)


def _timed_on(summary: dict[str, Any]) -> str:
    """'cpu (AMD EPYC) at batch 1': where and how a profile row was timed."""
    name = summary.get("device_name") or "?"
    return f"{summary['speed_device']} ({name}) at batch {summary['speed_batch']}"


def _notes(rows: list[dict[str, Any]], reference: str) -> list[str]:
    notes = []
    sides = distinct(rows, "side")
    if len(sides) == 1:
        notes.append(f"Input {sides[0]}×{sides[0]} pixels; GMACs are conv + linear MACs per clip.")
    if len({r["model"] for r in rows}) > 1:
        label = next(r["label"] for r in rows if r["model"] == reference)
        notes.append(
            f"Ratios are to {label} at the same depth, frames and input size (below 1× means "
            "fewer MACs or less memory; above 1×, a larger batch or more clips/s)."
        )
    with_memory = [r for r in rows if "memory_method" in r]
    if with_memory:
        hows = sorted(
            {memory_method_text(r["memory_method"], r.get("device_name")) for r in with_memory}
        )
        budgets = sorted({budget_text(r.get("budget_bytes")) for r in with_memory})
        notes.append(
            f"Memory: {' and '.join(hows)}; max batch for a budget of {', '.join(budgets)}."
        )
    timed = sorted({_timed_on(r) for r in rows if "speed_device" in r})
    if timed:
        notes.append(f"Speed: measured on {', '.join(timed)}.")
    return notes


def profile_section(runs: list[dict[str, Any]], out_dir: Path, study: str) -> str:
    """Markdown for the study's profile rows, writing its charts beside it; '' if none. Rows of
    two devices are two sections (GPUs first), each with its own ratios and charts."""
    groups = by_device(sorted(profile_summaries(runs), key=sort_key))
    if len(groups) < 2:
        only = next(iter(groups.values()), [])
        return _device_section(only, out_dir, study, "## Profiles") if only else ""
    return "\n\n".join(
        _device_section(summaries, out_dir, f"{study}-{slug(device)}", f"## Profiles on {device}")
        for device, summaries in groups.items()
    )


def _device_section(
    summaries: list[dict[str, Any]], out_dir: Path, stem: str, heading: str
) -> str:
    reference = reference_model(summaries)
    rows = add_ratios(summaries, ("frames", "depth", "side"), reference)
    columns = _columns(rows)
    headers = [_HEADERS.get(c) or header(c) for c in columns]
    body = [[_cell(c, r.get(c)) for c in columns] for r in rows]
    parts = [heading, " ".join(_notes(rows, reference)), table(headers, body)]
    return "\n\n".join(parts + _charts(summaries, out_dir, stem))


def _at_common_side(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """The rows at the input size most rows have (a chart compares one size), and '224²'."""
    sides = [r["side"] for r in rows]
    side = max(set(sides), key=lambda v: (sides.count(v), v or 0)) if sides else None
    return [r for r in rows if r["side"] == side], f"{side}²"


def _charts(summaries: list[dict[str, Any]], out_dir: Path, study: str) -> list[str]:
    links = []
    counted, side = _at_common_side([s for s in summaries if "gmacs" in s])
    if len(distinct(counted, "frames")) > 1:
        png = charts.gmacs_vs_frames(
            series(counted, "gmacs"),
            out_dir / f"{study}-gmacs-vs-frames.png",
            f"{study}: GMACs per clip vs input frames ({side})",
        )
        links.append(image("GMACs per clip against input frames", png, out_dir))
    with_memory, side = _at_common_side([s for s in summaries if "max_batch" in s])
    if len(distinct(with_memory, "frames")) > 1:
        how = memory_method_text(with_memory[0]["memory_method"], with_memory[0].get("device_name"))
        budget = budget_text(with_memory[0].get("budget_bytes"))
        png = charts.max_batch_vs_frames(
            series(with_memory, "max_batch"),
            [],
            out_dir / f"{study}-max-batch-vs-frames.png",
            f"{study}: largest training batch in {budget} ({side})\n{how}",
        )
        links.append(image("Largest training batch against input frames", png, out_dir))
    infer, train, shared = speed_points(summaries)
    if infer:
        png = charts.speed_vs_gmacs(
            infer,
            train,
            out_dir / f"{study}-speed-vs-gmacs.png",
            f"{study}: measured clips/s vs GMACs per clip" + (f" ({shared})" if shared else ""),
        )
        links.append(image("Clips per second against GMACs per clip", png, out_dir))
    return links
