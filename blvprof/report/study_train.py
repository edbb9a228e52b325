"""The training part of a study report: every configuration's seeds as mean ± sd with a 95 %
interval, which differences exceed that noise and the paper's accuracy claims (train_verdicts),
and accuracy within time-reversed pairs. One section per benchmark and device: rows made by two
versions of the synthetic benchmark, or on two devices, never mix."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from blvprof.records import Kind
from blvprof.report import charts
from blvprof.report.markdown import (
    CI,
    MISSING,
    image,
    interval,
    mean_sd,
    number,
    percent,
    slug,
    table,
)
from blvprof.report.profiles import ok_records
from blvprof.report.study_accuracy import alpha_beta_chart, frames_chart, pareto_chart
from blvprof.report.train_groups import ORDER_BLIND, Config, group, learned, learned_threshold
from blvprof.report.train_rows import (
    TRAIN_FIELDS,
    short_name,
    train_order,
    train_summary,
    varying_fields,
)
from blvprof.report.train_verdicts import claims, differences

PAIR_EXPECTATION = (
    "Within a time-reversed pair (e.g. moving left vs moving right) the frames are the same and "
    "only their order differs, so an order-blind model such as TSN sits at ~50 % there; a model "
    "that uses temporal order should be well above it. Pair identity is how often the predicted "
    "class is one of the clip's pair: from version 2 of the synthetic benchmark on, every frame "
    "names its pair, so an order-blind model that learned scores ~100 % there and ~50 % top-1."
)
# The most pairs shown as columns of the per-pair table.
MAX_PAIR_COLUMNS = 8
# A pair no configuration gets above this (mean over seeds) is called not learned.
LEARNED_PAIR = 0.65


def train_section(runs: list[dict[str, Any]], out_dir: Path, study: str) -> str:
    """Markdown for the study's training runs, writing its charts beside it; '' if none."""
    summaries = sorted((train_summary(r) for r in ok_records(runs, Kind.TRAIN)), key=train_order)
    benchmarks = sorted({s["benchmark"] for s in summaries}, reverse=True)  # newest version first
    devices = sorted({s["device_group"] for s in summaries}, key=lambda d: (d == "CPU", d))
    sections = []
    for b in benchmarks:
        for device in devices:
            chosen = [s for s in summaries if s["benchmark"] == b and s["device_group"] == device]
            if not chosen:
                continue
            stem, where = study, []
            if len(benchmarks) > 1:
                stem, where = f"{stem}-{b}", [b]
            if len(devices) > 1:
                stem, where = f"{stem}-{slug(device)}", [*where, device]
            heading = f" on {', '.join(where)}" if where else ""
            sections.append(_benchmark_section(chosen, out_dir, stem, heading))
    return "\n\n".join(sections)


def _benchmark_section(
    summaries: list[dict[str, Any]], out_dir: Path, stem: str, heading: str
) -> str:
    fields = varying_fields(summaries)
    configs = group(summaries, fields)
    parts = [f"## Training results{heading}", _setting_line(summaries, fields, configs)]
    parts += [config_table(configs, fields), *noise_lines(configs)]
    parts += accuracy_charts(summaries, configs, fields, out_dir, stem)
    parts += differences(configs)
    parts += claims(configs)
    if any(c.within is not None for c in configs):
        parts += ["### Temporal order: accuracy within reversed pairs", PAIR_EXPECTATION]
        parts += _pair_parts(configs, out_dir, stem)
        reading = pair_reading(configs)
        if reading:
            parts.append("**Reading:**\n\n" + "\n".join(f"- {line}" for line in reading))
    parts += ["### Every run", _run_table(summaries, fields)]
    return "\n\n".join(parts)


def _setting_line(
    summaries: Sequence[dict[str, Any]], fields: Sequence[str], configs: Sequence[Config]
) -> str:
    fixed = [
        f"{short_name(f'train.{k}')} {summaries[0]['fields'].get(f'train.{k}')}"
        for k in TRAIN_FIELDS
        if f"train.{k}" not in fields and summaries[0]["fields"].get(f"train.{k}") is not None
    ]
    seeds = sorted({c.top1.n for c in configs})
    text = (
        f"Benchmark: {summaries[0]['benchmark']}. Top-1 is the final validation accuracy, as "
        f"mean ± standard deviation over each configuration's seeds "
        f"({'-'.join(map(str, seeds))} per configuration) with its {CI} "
        "Student-t interval."
    )
    text += f" Same for every run: {', '.join(fixed)}." if fixed else ""
    if seeds == [1]:
        text += (
            " Each configuration has one seed, so this report cannot say how far a row would "
            "move with another seed: rerun the study with `seed = [0, 1, 2]` in its `[train]`."
        )
    return text


def config_table(configs: Sequence[Config], fields: Sequence[str]) -> str:
    shown = [f for f in fields if f != "train.seed"]
    headers = [
        "model",
        *(short_name(f) for f in shown),
        "GMACs",
        "seeds",
        "learned",
        "top-1",
        f"top-1 {CI} CI",
        "within-pair",
        f"within-pair {CI} CI",
        "pair identity",
        "s/epoch",
    ]
    rows = [
        [
            c.label,
            *(MISSING if c.value(f) is None else c.value(f) for f in shown),
            number(c.gmacs),
            c.top1.n,
            f"{c.top1.n - len(c.not_learned)}/{c.top1.n}",
            mean_sd(c.top1),
            interval(c.top1.low, c.top1.high),
            mean_sd(c.within),
            interval(c.within.low, c.within.high) if c.within else MISSING,
            mean_sd(c.identity),
            number(_median([r["seconds_per_epoch"] for r in c.runs]), 1),
        ]
        for c in configs
    ]
    return table(headers, rows)


def _median(values: Sequence[float | None]) -> float | None:
    known = sorted(v for v in values if v is not None)
    if not known:
        return None
    middle = len(known) // 2
    return known[middle] if len(known) % 2 else (known[middle - 1] + known[middle]) / 2


def noise_lines(configs: Sequence[Config]) -> list[str]:
    """The widest seed spread of top-1, and every run that did not learn."""
    lines = []
    spread = [c for c in configs if c.top1.std is not None]
    if spread:
        widest = max(spread, key=lambda c: c.top1.std or 0.0)
        lines.append(
            f"**Seed noise:** the standard deviation of top-1 between seeds is at most "
            f"{100 * (widest.top1.std or 0.0):.1f} points ({widest.name})."
        )
    failed = [(c, r) for c in configs for r in c.not_learned]
    if failed:
        runs = ", ".join(
            f"{c.name} seed {r['fields'].get('train.seed')} "
            f"(pair identity {percent(r['pair_identity'])}, top-1 {percent(r['top1'])})"
            for c, r in failed
        )
        lines.append(f"**Did not learn** ({_learned_rule(configs)}): {runs}.")
    else:
        lines.append(f"Every run learned ({_learned_rule(configs)}).")
    return lines


def _learned_rule(configs: Sequence[Config]) -> str:
    classes = configs[0].runs[0].get("num_classes") if configs else None
    if classes and configs[0].identity is not None:
        threshold = learned_threshold(classes // 2)
        return f"pair identity at least {percent(threshold)}, halfway from chance to perfect"
    return "final top-1 at least 1.5× chance"


def accuracy_charts(
    summaries: Sequence[dict[str, Any]],
    configs: Sequence[Config],
    fields: Sequence[str],
    out_dir: Path,
    stem: str,
) -> list[str]:
    """Accuracy vs GMACs (Pareto), the α×β heatmap and accuracy vs frames, where the data allow."""
    links = [pareto_chart(configs, out_dir, stem)]
    if {"config.alpha", "config.beta"} <= set(fields):
        links.append(alpha_beta_chart(configs, out_dir, stem))
    if "config.num_frames" in fields:
        links.append(frames_chart(configs, out_dir, stem))
    return [link for link in links if link]


def _pair_parts(configs: Sequence[Config], out_dir: Path, stem: str) -> list[str]:
    paired = [c for c in configs if c.within is not None]
    bars = [
        charts.Point(
            c.label,
            0.0,
            c.within.mean,
            c.name,
            c.family,
            c.within.clipped(),
        )
        for c in paired
        if c.within is not None
    ]
    png = charts.pair_accuracy_bars(
        bars,
        out_dir / f"{stem}-pair-accuracy.png",
        f"{stem}: accuracy within time-reversed class pairs (mean, {CI} CI)",
    )
    parts = [image("Accuracy within time-reversed class pairs", png, out_dir)]
    names = sorted({name for c in paired for r in c.runs for name in r["pairs"]})
    if 0 < len(names) <= MAX_PAIR_COLUMNS:
        headers = ["configuration", *(n.replace("|", " vs ") for n in names)]
        rows = [[c.name, *(percent(_pair_mean(c, n)) for n in names)] for c in paired]
        parts += ["Within-pair accuracy per pair (mean over seeds):", table(headers, rows)]
    return parts


def _pair_mean(config: Config, pair: str) -> float | None:
    scores = [r["pairs"][pair] for r in config.runs if r["pairs"].get(pair) is not None]
    return sum(scores) / len(scores) if scores else None


def pair_reading(configs: Sequence[Config]) -> list[str]:
    """Sentences on the within-pair figures: order-blind models against chance, the others'
    range, and any pair that no configuration learned. Runs that did not learn are left out."""
    learned_configs = [c for c in configs if c.within is not None and not c.not_learned]
    blind = [c for c in learned_configs if c.family in ORDER_BLIND]
    # a model reference's family ("external") says nothing about how it treats time
    aware = [c for c in learned_configs if c.family not in (*ORDER_BLIND, "external")]
    lines = []
    if blind:
        listing = ", ".join(f"{c.name} {mean_sd(c.within)}" for c in blind)
        lines.append(
            f"Without a temporal module (no information flows between frames, beyond a frame "
            f"pair in bLVNet): {listing}, against 50 % for a model blind to frame order."
        )
    if aware:
        best = max(aware, key=lambda c: c.within.mean if c.within else 0.0)
        means = [c.within.mean for c in aware if c.within]
        low, high = min(means), max(means)
        span = percent(high) if low == high else f"{percent(low)} to {percent(high)}"
        lines.append(
            f"Models with a temporal module: {span} within pairs (mean over seeds; best: "
            f"{best.name})."
        )
    names = sorted({n for c in learned_configs for r in c.runs for n in r["pairs"]})
    for pair in names:
        scores = [m for c in learned_configs if (m := _pair_mean(c, pair)) is not None]
        if scores and max(scores) < LEARNED_PAIR:
            lines.append(
                f"No configuration tells {pair.replace('|', ' from ')} apart (best "
                f"{percent(max(scores))}, below {percent(LEARNED_PAIR)}): that pair is not "
                "learned with this budget."
            )
    return lines


def _run_table(summaries: Sequence[dict[str, Any]], fields: Sequence[str]) -> str:
    headers = [
        "model",
        *(short_name(f) for f in fields),
        "top-1",
        "top-5",
        "best top-1",
        "within-pair",
        "pair identity",
        "learned",
    ]
    rows = [
        [
            s["label"],
            *(s["fields"].get(f, MISSING) for f in fields),
            percent(s["top1"]),
            percent(s["top5"]),
            percent(s["best_top1"]),
            percent(s["pair_mean"]),
            percent(s["pair_identity"]),
            "yes" if learned(s) else "no",
        ]
        for s in summaries
    ]
    return table(headers, [[MISSING if c is None else c for c in row] for row in rows])

