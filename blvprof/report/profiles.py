"""Profile rows as summaries: selected, merged per configuration and device, turned into chart
series. Summaries are found by what they are (family, depth, frames, side, variant), never by
their display label."""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from blvprof.records import Kind, Profile, Status
from blvprof.report.charts import Point, Series
from blvprof.report.summary import summarize

# (device, model, resolved config): one configuration of one model on one device.
ConfigKey = tuple[str, str, str]
# Config fields that make a model a variant of its family's standard one, with their standard
# values (TAM off is a family of its own: bLVNet).
VARIANTS = {"reference": False, "slow_only": False}
# Families in the order tables list them: the baselines, then bLVNet.
FAMILY_ORDER = ("tsn", "tam_resnet", "tsm", "i3d", "blvnet", "blvnet_tam")


def ok_runs(runs: Iterable[dict[str, Any]], kind: Kind) -> list[dict[str, Any]]:
    return [r for r in runs if r["kind"] == kind and r["status"] == Status.OK and r["result"]]


def ok_records(runs: Iterable[dict[str, Any]], kind: Kind) -> list[Profile]:
    """The records of the successful rows of ``kind``, in the store's order."""
    return [Profile.from_row(r) for r in ok_runs(runs, kind)]


def profile_summaries(runs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One summary per successful profile row, in the store's order."""
    return [summarize(record) for record in ok_records(runs, Kind.PROFILE)]


def family_rank(family: str) -> int:
    return FAMILY_ORDER.index(family) if family in FAMILY_ORDER else len(FAMILY_ORDER)


def sort_key(summary: dict[str, Any]) -> tuple[Any, ...]:
    """Table order: depth, frames, size, then baselines before bLVNet."""
    depth, frames, side = summary["depth"] or 0, summary["frames"] or 0, summary["side"] or 0
    return (depth, frames, side, family_rank(summary["family"]), summary["label"])


def by_device(summaries: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Summaries grouped by their ``device_group`` (``summary.device_of``): GPUs by name, then
    CPU."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for summary in summaries:
        groups.setdefault(summary["device_group"], []).append(summary)
    return dict(sorted(groups.items(), key=lambda item: (item[0] == "CPU", item[0])))


def merge_by_config(summaries: Iterable[dict[str, Any]]) -> dict[ConfigKey, dict[str, Any]]:
    """Summaries of one configuration merged: a metric missing from one row is taken from another
    (e.g. MACs from a counting run, clips/s from a timing run); the first value of each wins.

    All rows must come from one device (split them with ``by_device`` first): merged across
    devices, the first value would be a CPU estimate in one cell and a GPU peak in the next.
    """
    summaries = list(summaries)
    devices = {s.get("device_group") for s in summaries}
    if len(devices) > 1:
        raise ValueError(f"rows of several devices ({sorted(map(str, devices))}): split them")
    merged: dict[ConfigKey, dict[str, Any]] = {}
    for summary in summaries:
        into = merged.setdefault(summary["config_key"], {})
        for name, value in summary.items():
            if value is not None:
                into.setdefault(name, value)
    return merged


def series(
    summaries: Sequence[dict[str, Any]],
    metric: str,
    name: Callable[[dict[str, Any]], str] = lambda s: s["label"],
) -> list[Series]:
    """One series per name (default: the model label), ``metric`` against input frames."""
    lines: dict[str, list[dict[str, Any]]] = {}
    for summary in sorted(summaries, key=sort_key):
        if summary.get(metric) is not None and summary["frames"] is not None:
            lines.setdefault(name(summary), []).append(summary)
    ordered = sorted(lines.items(), key=lambda item: _line_order(item[1][0]))
    return [
        Series(
            label,
            tuple(float(s["frames"]) for s in points),
            tuple(float(s[metric]) for s in points),
            points[0]["family"],
            points[0]["depth"],
        )
        for label, points in ordered
    ]


def _line_order(summary: dict[str, Any]) -> tuple[Any, ...]:
    return (family_rank(summary["family"]), summary["depth"] or 0, summary["side"] or 0)


def speed_points(
    summaries: Sequence[dict[str, Any]],
) -> tuple[list[Point], list[Point], str]:
    """(inference, training) points of clips/s against GMACs, and what they all share.

    Points are annotated with frames and input size only where those differ between points;
    otherwise the shared "16 frames, 112²" is returned for the title and the points stay bare.
    """
    timed = [
        s for s in sorted(summaries, key=sort_key) if "infer_clips_per_s" in s and "gmacs" in s
    ]
    notes = [f"{s['frames']}f {s['side']}²" for s in timed]
    shared = ""
    if len(set(notes)) == 1:
        shared = f"{timed[0]['frames']} frames, {timed[0]['side']}²"
        notes = [""] * len(timed)

    def points(metric: str) -> list[Point]:
        return [
            Point(s["label"], s["gmacs"], s[metric], note, s["family"])
            for s, note in zip(timed, notes, strict=True)
        ]

    return points("infer_clips_per_s"), points("train_clips_per_s"), shared


def distinct(summaries: Iterable[dict[str, Any]], field: str) -> list[Any]:
    """The distinct non-missing values of ``field``, sorted."""
    return sorted({s[field] for s in summaries if s.get(field) is not None})


def lookup(
    index: dict[ConfigKey, dict[str, Any]],
    family: str,
    depth: int,
    frames: int,
    side: int | None,
    variant: dict[str, bool] | None = None,
) -> dict[str, Any]:
    """The merged summary of a family's model at (depth, frames, side), or {}: its standard
    model, or the variant ``variant`` names (e.g. ``{"reference": True}``); the first such
    configuration when several are."""
    wanted = {**VARIANTS, **(variant or {})}
    for summary in index.values():
        if (summary["family"], summary["depth"], summary["frames"], summary["side"]) == (
            family, depth, frames, side
        ) and all(summary[k] == v for k, v in wanted.items()):
            return summary
    return {}
