"""Section c of the paper-claims report: "~2× less memory at equal frames" and Fig. 3b redrawn."""

from pathlib import Path
from typing import Any

from blvprof.report import charts
from blvprof.report.markdown import (
    MISSING,
    budget_text,
    image,
    max_batch_text,
    memory_method_text,
    number,
    table,
    times,
)
from blvprof.report.paper import FIG3B_BLVNET_TAM_50, FIG3B_TSN_R50, PAPER_SIDE
from blvprof.report.profiles import ConfigKey, lookup, series
from blvprof.report.summary import model_label, ratio
from blvprof.report.verdicts import memory_verdict

DEPTH = 50  # Fig. 3b compares the 50-layer models


def _ours(index: dict[ConfigKey, dict[str, Any]], family: str) -> dict[int, dict[str, Any]]:
    """Summaries with memory figures of ``family``-50 at 224², by input frames."""
    found = {}
    for key in sorted({k[2] for k in index if k[2] is not None}):
        summary = lookup(index, family, DEPTH, key, PAPER_SIDE)
        if "max_batch" in summary:
            found[key] = summary
    return found


def _how_measured(summaries: list[dict[str, Any]]) -> str:
    """'estimated (…)' or 'measured on <GPU>', naming both when the rows mix methods."""
    methods = {
        (s.get("memory_method"), s.get("device_name") if s.get("memory_method") == "cuda" else None)
        for s in summaries
    }
    return " and ".join(sorted(memory_method_text(m, d) for m, d in methods)) or MISSING


def _table(tsn: dict[int, dict[str, Any]], ours: dict[int, dict[str, Any]]) -> str:
    frames = sorted(set(tsn) | set(ours) | set(FIG3B_TSN_R50) | set(FIG3B_BLVNET_TAM_50))
    rows = []
    for f in frames:
        t, b = tsn.get(f, {}), ours.get(f, {})
        paper_t, paper_b = FIG3B_TSN_R50.get(f), FIG3B_BLVNET_TAM_50.get(f)
        t_mib, b_mib = t.get("train_mib_per_clip"), b.get("train_mib_per_clip")
        rows.append(
            [
                f,
                t.get("max_batch", MISSING),
                b.get("max_batch", MISSING),
                times(ratio(b.get("max_batch"), t.get("max_batch"))),
                paper_t or MISSING,
                paper_b or MISSING,
                times(ratio(paper_b, paper_t)),
                number(t_mib, 0),
                number(b_mib, 0),
                times(ratio(t_mib, b_mib)),
            ]
        )
    headers = [
        "frames",
        "TSN-R50 max batch (ours)",
        "bLVNet-TAM-50 max batch (ours)",
        "ratio",
        "TSN-R50 (paper)",
        "bLVNet-TAM-50 (paper)",
        "paper ratio",
        "TSN-R50 MiB/clip",
        "bLVNet-TAM-50 MiB/clip",
        "memory ratio",
    ]
    return table(headers, rows)


def _chart(
    tsn: dict[int, dict[str, Any]],
    ours: dict[int, dict[str, Any]],
    how: str,
    budget: str,
    path: Path,
) -> Path:
    paper = [
        charts.Series(
            model_label(family, DEPTH),
            tuple(map(float, points)),
            tuple(map(float, points.values())),
            family,
            DEPTH,
        )
        for family, points in (("tsn", FIG3B_TSN_R50), ("blvnet_tam", FIG3B_BLVNET_TAM_50))
    ]
    title = (
        f"Largest training batch in {budget}: TSN-R50 vs bLVNet-TAM-50 ({PAPER_SIDE}²)\n"
        f"ours {how}; paper: one GPU, model not stated"
    )
    measured = series([*tsn.values(), *ours.values()], "max_batch")
    return charts.max_batch_vs_frames(measured, paper, path, title)


def memory_section(index: dict[ConfigKey, dict[str, Any]], out_dir: Path, prefix: str) -> str:
    """Fig. 3b redrawn, the largest batches and per-clip training memory, and the verdict."""
    tsn, ours = _ours(index, "tsn"), _ours(index, "blvnet_tam")
    measured = [*tsn.values(), *ours.values()]
    heading = "## c. Memory claim (~2× less at equal frames)"
    if not measured:
        return f"{heading}\n\nNo memory figures for TSN-R50 or bLVNet-TAM-50 at {PAPER_SIDE}²."
    how = _how_measured(measured)
    budget = ", ".join(sorted({budget_text(s.get("budget_bytes")) for s in measured}))
    ratios = [
        tsn[f]["train_mib_per_clip"] / ours[f]["train_mib_per_clip"]
        for f in sorted(tsn)
        if f in ours
    ]
    png = _chart(tsn, ours, how, budget, out_dir / f"{prefix}-max-batch-vs-frames.png")
    return "\n\n".join(
        [
            heading,
            f"Figure 3b of the paper plots the largest training batch that fits on one GPU against "
            f"input frames. Ours are {how}, for a memory budget of {budget}; the largest batch is "
            f"{max_batch_text([s.get('max_batch_method') for s in measured])}. The per-clip "
            "training memory is the slope of peak memory against batch (fixed costs such as "
            "weights and optimizer state excluded). Ratios are TSN ÷ bLVNet-TAM for memory and "
            "bLVNet-TAM ÷ TSN for batches; the claim counts as “about 2×” for a memory ratio of "
            "1.75–2.25×.",
            _table(tsn, ours),
            image("Largest training batch against input frames", png, out_dir),
            f"**Verdict:** {memory_verdict('TSN-R50', 'bLVNet-TAM-50', ratios)}",
        ]
    )
