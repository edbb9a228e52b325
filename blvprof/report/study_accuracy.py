"""Accuracy charts of a study's training runs; each returns a markdown image link, or ''."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from blvprof.report import charts
from blvprof.report.markdown import image
from blvprof.report.train_rows import describe

ALPHA, BETA, FRAMES, SEED = "config.alpha", "config.beta", "config.num_frames", "train.seed"


def _name(summary: dict[str, Any], fields: Sequence[str]) -> str:
    return f"{summary['label']} {describe(summary, fields)}".strip()


def pareto_chart(
    summaries: Sequence[dict[str, Any]], fields: Sequence[str], out_dir: Path, study: str
) -> str:
    """Top-1 against GMACs per clip with the Pareto front, when two runs have both."""
    scored = [s for s in summaries if s["gmacs"] is not None and s["top1"] is not None]
    if len(scored) < 2:
        return ""
    points = [
        charts.Point(s["label"], s["gmacs"], s["top1"], describe(s, fields), s["family"])
        for s in scored
    ]
    png = charts.accuracy_vs_gmacs(
        points, out_dir / f"{study}-accuracy-vs-gmacs.png", f"{study}: top-1 vs GMACs per clip"
    )
    return image("Top-1 accuracy against GMACs per clip, with the Pareto front", png, out_dir)


def alpha_beta_chart(
    summaries: Sequence[dict[str, Any]], fields: Sequence[str], out_dir: Path, study: str
) -> str:
    """The α×β heatmap of top-1 (the mean over seeds), for the group of runs (equal in every
    other varying field) that covers the most (α, β) cells."""
    others = [f for f in fields if f not in (ALPHA, BETA, SEED)]
    groups: dict[str, dict[tuple[int, int], list[float]]] = {}
    for s in summaries:
        alpha, beta = s["fields"].get(ALPHA), s["fields"].get(BETA)
        if alpha is not None and beta is not None and s["top1"] is not None:
            groups.setdefault(_name(s, others), {}).setdefault((alpha, beta), []).append(s["top1"])
    if not groups:
        return ""
    name, runs = max(groups.items(), key=lambda item: len(item[1]))
    cells = {cell: sum(top1) / len(top1) for cell, top1 in runs.items()}
    seeds = {len(top1) for top1 in runs.values()}
    if seeds != {1}:
        counts = "-".join(str(n) for n in sorted(seeds))
        name = f"{name}, mean of {counts} seeds".lstrip(", ")
    alphas, betas = sorted({a for a, _ in cells}), sorted({b for _, b in cells})
    png = charts.accuracy_heatmap(
        alphas,
        betas,
        cells,
        out_dir / f"{study}-alpha-beta.png",
        f"{study}: top-1 by α and β ({name})" if name else f"{study}: top-1 by α and β",
    )
    return image("Top-1 accuracy for each α and β", png, out_dir)


def frames_chart(
    summaries: Sequence[dict[str, Any]], fields: Sequence[str], out_dir: Path, study: str
) -> str:
    """Top-1 against input frames, one line per model and setting of the other varying fields."""
    others = [f for f in fields if f != FRAMES]
    lines: dict[str, list[dict[str, Any]]] = {}
    for s in summaries:
        if s["fields"].get(FRAMES) is not None and s["top1"] is not None:
            lines.setdefault(_name(s, others), []).append(s)
    if not lines:
        return ""
    series = []
    for name, runs in lines.items():
        runs = sorted(runs, key=lambda s: s["fields"][FRAMES])
        series.append(
            charts.Series(
                name,
                tuple(float(s["fields"][FRAMES]) for s in runs),
                tuple(s["top1"] for s in runs),
                runs[0]["family"],
                runs[0]["depth"],
            )
        )
    png = charts.accuracy_vs_frames(
        series, out_dir / f"{study}-accuracy-vs-frames.png", f"{study}: top-1 vs input frames"
    )
    return image("Top-1 accuracy against input frames", png, out_dir)
