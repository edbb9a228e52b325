"""Charts as PNG files: each a pure function of plain data and a path, returning the path.

A model keeps its colour and marker in every chart (by family); depth sets the line style.
Accuracies are fractions 0..1 in, percent on the axes. Axes switch to log scale where the values
span more than 10×. Matplotlib runs headless (Agg) and through ``Figure``, never ``pyplot`` state.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

SIZE_IN = (7.0, 4.5)
DPI = 150
_FAMILY_STYLES: dict[str, tuple[str, str]] = {
    "tsn": ("#1f77b4", "o"),
    "blvnet_tam": ("#d62728", "s"),
    "tam_resnet": ("#2ca02c", "^"),
    "tsm": ("#9467bd", "D"),
    "i3d": ("#8c564b", "v"),
    "blvnet": ("#ff7f0e", "P"),
    "blvnet_tam_reference": ("#e377c2", "X"),  # bLVNet-TAM in the official operator sequence
}
_PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
)
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")  # 7 against 10 colours: 70 distinct pairs
_LINESTYLES = ("-", "--", ":", "-.")


@dataclass(frozen=True)
class Series:
    """One line: a model (family, depth) or a variant, y against x."""

    label: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    family: str = ""
    depth: int | None = None
    intervals: tuple[tuple[float, float] | None, ...] = ()  # per point (low, high) of y, or none


@dataclass(frozen=True)
class Point:
    """One configuration in a scatter: ``label`` groups points in the legend, ``note`` annotates."""

    label: str
    x: float
    y: float
    note: str = ""
    family: str = ""
    interval: tuple[float, float] | None = None  # (low, high) of y, drawn as an error bar


@dataclass(frozen=True)
class Style:
    colour: str
    marker: str
    linestyle: str = "-"


def styles(keys: Sequence[tuple[str, int | None]]) -> list[Style]:
    """Colour and marker by family and line style by depth when (family, depth) tell the keys
    apart; otherwise one palette entry per key."""
    depths = sorted({d for _, d in keys if d is not None})
    if len(set(keys)) == len(keys) and all(f in _FAMILY_STYLES for f, _ in keys):
        return [
            Style(
                *_FAMILY_STYLES[f],
                _LINESTYLES[depths.index(d) % len(_LINESTYLES)] if d in depths else "-",
            )
            for f, d in keys
        ]
    return [
        Style(_PALETTE[i % len(_PALETTE)], _MARKERS[i % len(_MARKERS)]) for i in range(len(keys))
    ]


def _figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=SIZE_IN, dpi=DPI)
    return figure, figure.add_subplot()


def _log_if_wide(ax: Axes, values: Sequence[float], axis: str) -> bool:
    """Log scale with plain tick labels (1, 2, 3, 5, 10, …) when values span more than 10×;
    True if the axis went logarithmic."""
    positive = [v for v in values if v > 0]
    wide = bool(positive) and max(positive) / min(positive) > 10
    if wide:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        scale = ax.xaxis if axis == "x" else ax.yaxis
        scale.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0)))
        scale.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        scale.set_minor_formatter(NullFormatter())
    return wide


def _save(
    figure: Figure,
    ax: Axes,
    path: Path,
    title: str,
    legend_entries: int,
    grid: str = "both",
    outside: bool = False,
) -> Path:
    """Title, grid (``grid``: 'both', 'x' or '' for none) and legend, then write the PNG. A long
    legend, or one beside annotated points, goes outside the axes (the tight box keeps it)."""
    ax.set_title(title, fontsize=10)
    if grid:
        ax.grid(True, axis=grid, which="major", alpha=0.35)
    if legend_entries > 6 or (outside and legend_entries):
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    elif legend_entries:
        ax.legend(fontsize=8, loc="best")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def _same_line(a: Series, b: Series) -> bool:
    """Two series at the same xs whose ys agree within 1 %."""
    return a.xs == b.xs and all(
        abs(x - y) <= 0.01 * abs(y) for x, y in zip(a.ys, b.ys, strict=True)
    )


def _legend_label(series: Sequence[Series], i: int, suffix: str) -> str:
    """The label, plus '(under TSN-R50)' where an earlier series hides this one."""
    under = next((s.label for s in series[:i] if _same_line(s, series[i])), None)
    return series[i].label + suffix + (f" (under {under})" if under else "")


def _plot_lines(ax: Axes, series: Sequence[Series], suffix: str = "", hollow: bool = False) -> None:
    """A line hidden under later ones with equal values (TSN and TSM MACs) is drawn wider, and
    the hidden ones say so in the legend."""
    for i, (item, style) in enumerate(
        zip(series, styles([(s.family, s.depth) for s in series]), strict=True)
    ):
        wider = 2.5 * sum(_same_line(item, later) for later in series[i + 1 :])
        ax.plot(
            item.xs,
            item.ys,
            label=_legend_label(series, i, suffix),
            color=style.colour,
            marker=style.marker,
            linestyle=":" if hollow else style.linestyle,
            markerfacecolor="none" if hollow else style.colour,
            markersize=9 if hollow else 6 + wider,
            markeredgewidth=1.6 if hollow else 1.0,
            linewidth=1.0 if hollow else 1.8 + wider / 2,
        )


def _frame_ticks(ax: Axes, series: Sequence[Series]) -> None:
    ax.set_xticks(sorted({x for s in series for x in s.xs}))


def gmacs_vs_frames(series: Sequence[Series], path: Path, title: str) -> Path:
    """GMACs per clip against input frames, one line per model and depth."""
    figure, ax = _figure()
    _plot_lines(ax, series)
    _frame_ticks(ax, series)
    log = _log_if_wide(ax, [y for s in series for y in s.ys], "y")
    ax.set_xlabel("input frames per clip")
    ax.set_ylabel("GMACs per clip (conv + linear)" + (", log scale" if log else ""))
    return _save(figure, ax, path, title, len(series))


def max_batch_vs_frames(
    ours: Sequence[Series], paper: Sequence[Series], path: Path, title: str
) -> Path:
    """Largest training batch against input frames; the paper's points as hollow markers.

    The axis stays linear, as in the paper's figure: batches are small whole numbers.
    """
    figure, ax = _figure()
    _plot_lines(ax, ours, " (ours)" if paper else "")
    _plot_lines(ax, paper, " (paper Fig. 3b)", hollow=True)
    _frame_ticks(ax, [*ours, *paper])
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    ax.set_xlabel("input frames per clip")
    ax.set_ylabel("largest training batch (clips)")
    return _save(figure, ax, path, title, len(ours) + len(paper))


def _legend_groups(points: Sequence[Point]) -> dict[tuple[str, str], Style]:
    """One style per legend label, by family where the families tell the labels apart."""
    groups = list(dict.fromkeys((p.label, p.family) for p in points))
    return dict(zip(groups, styles([(f, None) for _, f in groups]), strict=True))


def _scatter(
    ax: Axes,
    points: Sequence[Point],
    groups: dict[tuple[str, str], Style],
    marker: str | None,
    hollow: bool = False,
) -> None:
    for (label, family), style in groups.items():
        chosen = [p for p in points if (p.label, p.family) == (label, family)]
        if not chosen:
            continue
        ax.scatter(
            [p.x for p in chosen],
            [p.y for p in chosen],
            label=None if hollow else label,
            edgecolors=style.colour,
            marker=marker or style.marker,
            facecolors="none" if hollow else style.colour,
            linewidths=1.4,
            s=55,
            zorder=3,
        )
        _error_bars(ax, chosen, style.colour)
        for p in chosen:
            if p.note:
                ax.annotate(
                    p.note,
                    (p.x, p.y),
                    xytext=(5, 4),
                    textcoords="offset points",
                    fontsize=7,
                    color="#333333",
                )


def _error_bars(ax: Axes, points: Sequence[Point], colour: str) -> None:
    """Vertical bars from each point's interval (points without one get none)."""
    shown = [p for p in points if p.interval is not None]
    if shown:
        ax.errorbar(
            [p.x for p in shown],
            [p.y for p in shown],
            yerr=[
                [p.y - p.interval[0] for p in shown if p.interval],
                [p.interval[1] - p.y for p in shown if p.interval],
            ],
            fmt="none",
            ecolor=colour,
            elinewidth=1.2,
            capsize=3,
            zorder=2,
        )


def _percent_interval(interval: tuple[float, float] | None) -> tuple[float, float] | None:
    return None if interval is None else (100 * interval[0], 100 * interval[1])


def speed_vs_gmacs(infer: Sequence[Point], train: Sequence[Point], path: Path, title: str) -> Path:
    """Clips per second against GMACs per clip: filled circles infer, hollow triangles train."""
    figure, ax = _figure()
    everything = [*infer, *train]
    groups = _legend_groups(everything)
    ax.margins(x=0.12, y=0.1)  # room for the annotations
    _scatter(ax, infer, groups, "o")
    _scatter(ax, train, groups, "^", hollow=True)
    log_x = _log_if_wide(ax, [p.x for p in everything], "x")
    log_y = _log_if_wide(ax, [p.y for p in everything], "y")
    handles, _ = ax.get_legend_handles_labels()
    modes = [
        Line2D([], [], color="black", marker="o", linestyle="", label="inference"),
        Line2D(
            [],
            [],
            color="black",
            marker="^",
            markerfacecolor="none",
            linestyle="",
            label="training step",
        ),
    ]
    ax.set_xlabel("GMACs per clip (conv + linear)" + (", log scale" if log_x else ""))
    ax.set_ylabel("clips per second" + (", log scale" if log_y else ""))
    # outside the axes, so it never hides a point or its annotation
    ax.legend(handles=[*handles, *modes], fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(figure, ax, path, title, legend_entries=0)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both cost (x, lower) and score (y, higher),
    ordered by cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def accuracy_vs_gmacs(points: Sequence[Point], path: Path, title: str) -> Path:
    """Top-1 against GMACs per clip, with the Pareto front (of the means) as a dashed step line
    and each point's interval as an error bar."""
    shown = [
        Point(p.label, p.x, 100 * p.y, p.note, p.family, _percent_interval(p.interval))
        for p in points
    ]
    figure, ax = _figure()
    _scatter(ax, shown, _legend_groups(shown), None)
    ax.margins(x=0.12, y=0.1)  # room for the annotations
    front = [shown[i] for i in pareto_front([(p.x, p.y) for p in shown])]
    ax.plot(
        [p.x for p in front],
        [p.y for p in front],
        drawstyle="steps-post",
        color="black",
        linestyle="--",
        linewidth=1.0,
        label="Pareto front",
        zorder=2,
    )
    log_x = _log_if_wide(ax, [p.x for p in shown], "x")
    ax.set_xlabel("GMACs per clip (conv + linear)" + (", log scale" if log_x else ""))
    ax.set_ylabel("top-1 accuracy (%)")
    return _save(figure, ax, path, title, len({p.label for p in shown}) + 1, outside=True)


def accuracy_vs_frames(series: Sequence[Series], path: Path, title: str) -> Path:
    """Top-1 against input frames, one line per model or variant, with error bars where the
    series has intervals."""
    shown = [
        Series(
            s.label,
            s.xs,
            tuple(100 * y for y in s.ys),
            s.family,
            s.depth,
            tuple(_percent_interval(i) for i in s.intervals),
        )
        for s in series
    ]
    figure, ax = _figure()
    _plot_lines(ax, shown)
    for item, style in zip(shown, styles([(s.family, s.depth) for s in shown]), strict=True):
        points = [
            Point(item.label, x, y, interval=i)
            for x, y, i in zip(item.xs, item.ys, item.intervals, strict=True)
        ] if item.intervals else []
        _error_bars(ax, points, style.colour)
    _frame_ticks(ax, shown)
    ax.set_xlabel("input frames per clip")
    ax.set_ylabel("top-1 accuracy (%)")
    return _save(figure, ax, path, title, len(shown))


def accuracy_heatmap(
    alphas: Sequence[int],
    betas: Sequence[int],
    top1: dict[tuple[int, int], float],
    path: Path,
    title: str,
    spread: dict[tuple[int, int], float] | None = None,
) -> Path:
    """Top-1 for each (α, β) cell, annotated (with ``± spread``, the seeds' standard deviation,
    where given); cells not run are grey and marked '–'."""
    grid = [[100 * top1[(a, b)] if (a, b) in top1 else float("nan") for b in betas] for a in alphas]
    values = [v for row in grid for v in row if v == v]
    figure, ax = _figure()
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#d9d9d9")
    image = ax.imshow(grid, cmap=cmap, aspect="auto", origin="lower")
    middle = (min(values) + max(values)) / 2 if values else 0.0
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            cell = (alphas[i], betas[j])
            text = "–" if value != value else f"{value:.1f} %"
            if value == value and spread and spread.get(cell) is not None:
                text += f"\n± {100 * spread[cell]:.1f}"
            colour = "black" if value != value or value > middle else "white"
            ax.text(j, i, text, ha="center", va="center", fontsize=9, color=colour)
    ax.set_xticks(range(len(betas)), [str(b) for b in betas])
    ax.set_yticks(range(len(alphas)), [str(a) for a in alphas])
    ax.set_xlabel("β (little branch has 1/β of the blocks)")
    ax.set_ylabel("α (little branch has 1/α of the width)")
    figure.colorbar(image, ax=ax, label="top-1 accuracy (%)")
    return _save(figure, ax, path, title, legend_entries=0, grid="")


def pair_accuracy_bars(bars: Sequence[Point], path: Path, title: str) -> Path:
    """Within-reversed-pair accuracy per model (``Point.y``, a fraction), chance at 50 %, with
    each bar's interval as an error bar."""
    figure, ax = _figure()
    groups = _legend_groups(bars)
    rows = range(len(bars))
    intervals = [_percent_interval(b.interval) for b in bars]
    ax.barh(
        rows,
        [100 * b.y for b in bars],
        color=[groups[(b.label, b.family)].colour for b in bars],
        height=0.6,
        zorder=3,
        xerr=[
            [100 * b.y - i[0] if i else 0.0 for b, i in zip(bars, intervals, strict=True)],
            [i[1] - 100 * b.y if i else 0.0 for b, i in zip(bars, intervals, strict=True)],
        ],
        error_kw={"elinewidth": 1.2, "capsize": 3, "zorder": 4},
    )
    for row, (bar, interval) in enumerate(zip(bars, intervals, strict=True)):
        right = max(100 * bar.y, interval[1] if interval else 0.0)
        ax.text(right + 1, row, f"{100 * bar.y:.1f} %", va="center", fontsize=8)
    ax.axvline(50, color="black", linestyle="--", linewidth=1.2)
    ax.text(51, -0.85, "chance for an order-blind model: 50 %", va="center", fontsize=8)
    ax.set_yticks(list(rows), [b.note or b.label for b in bars], fontsize=8)
    ax.set_ylim(len(bars) - 0.5, -1.2)  # top to bottom, with a row for the chance label
    ax.set_xlim(0, 110)
    ax.set_xlabel("accuracy within time-reversed class pairs (%)")
    return _save(figure, ax, path, title, legend_entries=0, grid="x")
