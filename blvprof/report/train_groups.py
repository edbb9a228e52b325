"""A study's training runs grouped into configurations (every seed of one setting), with seed
statistics, and the comparisons between configurations that a report states.

Groups are keyed by the model (its name and the config fields that do not vary) and the values
of the varying fields other than the seed: never by a rendered string such as its label.
Comparisons are of top-1 (the paper's metric); each is a ``stats.Difference`` with its interval,
so a report can say which differences exceed the noise.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from blvprof.report.stats import Difference, Estimate, Trend, difference, estimate, trend
from blvprof.report.train_rows import describe

SEED = "train.seed"
FRAMES = "config.num_frames"
# Families without a temporal module: TSN sees each frame on its own, bLVNet without TAM each
# pair of neighbouring frames; neither can follow an object's motion through the clip.
ORDER_BLIND = ("tsn", "blvnet")
# What the paper's accuracy claim sets bLVNet-TAM against: the temporal models of its tables.
PAPER_PEERS = ("tam_resnet", "tsm", "i3d")
LEARNED_NOTHING = 1.5  # without pairs: a final top-1 below this many times chance (1 / classes)


@dataclass(frozen=True)
class Config:
    """Every seed of one configuration, with its estimates."""

    label: str  # the model's name ('bLVNet-TAM-26')
    family: str
    depth: int | None
    model_key: tuple[str, str]  # the model: its name and the config fields that do not vary
    values: tuple[tuple[str, Any], ...]  # (field, value) of the varying fields but the seed
    runs: tuple[dict[str, Any], ...]  # train summaries, one per seed
    gmacs: float | None
    top1: Estimate
    within: Estimate | None  # accuracy within reversed pairs, where the data have pairs
    identity: Estimate | None  # the pair named (predicted class in the clip's pair)

    @property
    def name(self) -> str:
        return f"{self.label} {describe(self.runs[0], [f for f, _ in self.values])}".strip()

    def value(self, field: str) -> Any:
        return dict(self.values).get(field)

    @property
    def top1s(self) -> list[float]:
        return [r["top1"] for r in self.runs]

    @property
    def not_learned(self) -> list[dict[str, Any]]:
        return [r for r in self.runs if not learned(r)]


@dataclass(frozen=True)
class Comparison:
    """``a`` against ``b`` in top-1, as the report words it."""

    a: str
    b: str
    what: str  # 'α=4 vs α=1', or the two configurations' names
    delta: Difference
    gmacs_ratio: float | None = None  # b's GMACs over a's: how many times cheaper a is
    b_family: str = ""  # the family ``b`` belongs to, so claims select peers without a lookup


@dataclass(frozen=True)
class FieldTrend:
    label: str
    family: str
    trend: Trend
    top1s_by_frames: tuple[tuple[int, tuple[float, ...]], ...]  # seed top-1s, fewest frames first


def learned_threshold(pairs: int) -> float:
    """Pair identity halfway between chance (1 / pairs) and perfect."""
    return (1 + 1 / pairs) / 2


def learned(run: dict[str, Any]) -> bool:
    """A run learned when it names the clip's pair well above chance (or, without pairs, when
    its top-1 is well above chance)."""
    identity, classes = run["pair_identity"], run["num_classes"]
    if identity is not None and classes:
        return bool(identity >= learned_threshold(classes // 2))
    top1 = run["top1"]
    return top1 is None or not classes or top1 >= LEARNED_NOTHING / classes


def group(summaries: Sequence[dict[str, Any]], fields: Sequence[str]) -> list[Config]:
    """Configurations in first-seen order (the summaries' table order)."""
    others = [f for f in fields if f != SEED]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for s in summaries:
        if s["top1"] is None:
            continue
        values = tuple((f, s["fields"].get(f)) for f in others if s["fields"].get(f) is not None)
        groups.setdefault((model_key(s, fields), values), []).append(s)
    return [_config(key, values, runs) for (key, values), runs in groups.items()]


def model_key(summary: dict[str, Any], fields: Sequence[str]) -> tuple[str, str]:
    """A run's model: its name and its config fields but the ``fields`` that vary."""
    fixed = {f: v for f, v in summary["fields"].items()
             if f.startswith("config.") and f not in fields}
    return summary["model"], json.dumps(fixed, sort_keys=True, default=str)


def _config(key: tuple[str, str], values: tuple[tuple[str, Any], ...],
            runs: list[dict[str, Any]]) -> Config:
    within = [r["pair_mean"] for r in runs if r["pair_mean"] is not None]
    identity = [r["pair_identity"] for r in runs if r["pair_identity"] is not None]
    return Config(
        label=runs[0]["label"],
        family=runs[0]["family"],
        depth=runs[0]["depth"],
        model_key=key,
        values=values,
        runs=tuple(runs),
        gmacs=runs[0]["gmacs"],
        top1=estimate([r["top1"] for r in runs]),
        within=estimate(within) if len(within) == len(runs) else None,
        identity=estimate(identity) if len(identity) == len(runs) else None,
    )


def field_comparisons(configs: Sequence[Config], field: str) -> list[Comparison]:
    """Each value of ``field`` against its smallest value, per model, pooling the seeds of all
    configurations that share the value (the marginal effect over the other varying fields)."""
    comparisons = []
    short = {"config.alpha": "α", "config.beta": "β", FRAMES: "frames"}.get(
        field, field.split(".", 1)[1]
    )
    for key in dict.fromkeys(c.model_key for c in configs):
        mine = [c for c in configs if c.model_key == key]
        label = mine[0].label
        pooled: dict[Any, list[float]] = {}
        for c in mine:
            if c.value(field) is not None:
                pooled.setdefault(c.value(field), []).extend(c.top1s)
        if len(pooled) < 2:
            continue
        values = sorted(pooled)
        base = values[0]
        for value in values[1:]:
            comparisons.append(
                Comparison(
                    a=label,
                    b=label,
                    what=f"{short}={value} vs {short}={base}",
                    delta=difference(pooled[value], pooled[base]),
                )
            )
    return comparisons


def frame_trends(configs: Sequence[Config]) -> list[FieldTrend]:
    """Top-1 against log2(frames) per model, every seed a point."""
    trends = []
    for key in dict.fromkeys(c.model_key for c in configs):
        chosen = [c for c in configs if c.model_key == key and c.value(FRAMES) is not None]
        if len({c.value(FRAMES) for c in chosen}) < 2:
            continue
        xs = [float(c.value(FRAMES)) for c in chosen for _ in c.runs]
        ys = [t for c in chosen for t in c.top1s]
        by_frames: dict[int, list[float]] = {}
        for c in chosen:
            by_frames.setdefault(c.value(FRAMES), []).extend(c.top1s)
        trends.append(FieldTrend(chosen[0].label, chosen[0].family, trend(xs, ys),
                                 tuple((f, tuple(by_frames[f])) for f in sorted(by_frames))))
    return trends


def against_peers(configs: Sequence[Config]) -> list[Comparison]:
    """bLVNet-TAM against each other configuration with the same values of the other varying
    fields (same frames): what the paper's accuracy claim is about."""
    comparisons = []
    for ours in (c for c in configs if c.family == "blvnet_tam"):
        for other in configs:
            if other.family == "blvnet_tam" or _other_values(other) != _other_values(ours):
                continue
            ratio = other.gmacs / ours.gmacs if other.gmacs and ours.gmacs else None
            what = f"{ours.name} vs {other.name}"
            delta = difference(ours.top1s, other.top1s)
            comparisons.append(
                Comparison(ours.name, other.name, what, delta, ratio, other.family)
            )
    return comparisons


def _other_values(config: Config) -> tuple[tuple[str, Any], ...]:
    """The values that must match for two models to be compared: all but model-specific ones."""
    model_specific = ("config.alpha", "config.beta", "config.blending_frames")
    return tuple((f, v) for f, v in config.values if f not in model_specific)
