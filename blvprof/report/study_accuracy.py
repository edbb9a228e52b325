"""Accuracy charts of a study's training configurations (seed means with their 95 % intervals);
each returns a markdown image link, or ''."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from blvprof.report import charts
from blvprof.report.markdown import image
from blvprof.report.train_groups import FRAMES, Config
from blvprof.report.train_rows import describe

ALPHA, BETA = "config.alpha", "config.beta"


def _note(config: Config, skip: Sequence[str] = ()) -> str:
    """The varying values but ``skip`` that tell the configuration apart ('α2 β4 16f')."""
    return describe(config.runs[0], [f for f, _ in config.values if f not in skip])


def pareto_chart(configs: Sequence[Config], out_dir: Path, stem: str) -> str:
    """Mean top-1 against GMACs per clip with the Pareto front, when two configurations have
    GMACs."""
    scored = [c for c in configs if c.gmacs is not None]
    if len(scored) < 2:
        return ""
    points = [
        charts.Point(c.label, c.gmacs or 0.0, c.top1.mean, _note(c), c.family, c.top1.clipped())
        for c in scored
    ]
    png = charts.accuracy_vs_gmacs(
        points,
        out_dir / f"{stem}-accuracy-vs-gmacs.png",
        f"{stem}: top-1 vs GMACs per clip (mean, 95 % CI)",
    )
    return image("Top-1 accuracy against GMACs per clip, with the Pareto front", png, out_dir)


def alpha_beta_chart(configs: Sequence[Config], out_dir: Path, stem: str) -> str:
    """The α×β heatmap of mean top-1 (± the seeds' standard deviation), for the model whose
    configurations cover the most (α, β) cells."""
    by_model: dict[tuple[str, str], dict[tuple[int, int], Config]] = {}
    for c in configs:
        alpha, beta = c.value(ALPHA), c.value(BETA)
        if alpha is not None and beta is not None:
            by_model.setdefault(c.model_key, {})[(alpha, beta)] = c
    if not by_model:
        return ""
    cells = max(by_model.values(), key=len)
    label = next(iter(cells.values())).label
    seeds = "-".join(str(n) for n in sorted({c.top1.n for c in cells.values()}))
    alphas, betas = sorted({a for a, _ in cells}), sorted({b for _, b in cells})
    spread = {cell: c.top1.std for cell, c in cells.items() if c.top1.std is not None}
    png = charts.accuracy_heatmap(
        alphas,
        betas,
        {cell: c.top1.mean for cell, c in cells.items()},
        out_dir / f"{stem}-alpha-beta.png",
        f"{stem}: top-1 by α and β ({label}, mean ± sd of {seeds} seeds)",
        spread,
    )
    return image("Top-1 accuracy for each α and β", png, out_dir)


def frames_chart(configs: Sequence[Config], out_dir: Path, stem: str) -> str:
    """Mean top-1 against input frames with 95 % intervals, one line per model and setting of
    the other varying fields."""
    lines: dict[tuple[Any, ...], list[Config]] = {}
    for c in configs:
        if c.value(FRAMES) is not None:
            others = tuple((f, v) for f, v in c.values if f != FRAMES)
            lines.setdefault((c.model_key, others), []).append(c)
    if not lines:
        return ""
    series = []
    for chosen in lines.values():
        chosen = sorted(chosen, key=lambda c: c.value(FRAMES))
        series.append(
            charts.Series(
                f"{chosen[0].label} {_note(chosen[0], [FRAMES])}".strip(),
                tuple(float(c.value(FRAMES)) for c in chosen),
                tuple(c.top1.mean for c in chosen),
                chosen[0].family,
                chosen[0].depth,
                tuple(c.top1.clipped() for c in chosen),
            )
        )
    png = charts.accuracy_vs_frames(
        series,
        out_dir / f"{stem}-accuracy-vs-frames.png",
        f"{stem}: top-1 vs input frames (mean, 95 % CI)",
    )
    return image("Top-1 accuracy against input frames", png, out_dir)
