"""Section d of the paper-claims report: measured speed next to MACs, against TSN."""

from pathlib import Path
from typing import Any

from blvprof.report import charts
from blvprof.report.markdown import image, number, table, times
from blvprof.report.paper import PAPER_SIDE
from blvprof.report.profiles import ConfigKey, lookup, sort_key, speed_points
from blvprof.report.summary import ratio
from blvprof.report.verdicts import speed_verdict

DEFINITION = (
    "Time ratio = t_TSN ÷ t_model at equal depth, frames and input size (clips/s of the model ÷ "
    "clips/s of TSN). **Realized share** = (t_TSN ÷ t_model) ÷ (MACs_TSN ÷ MACs_model): 1.0 "
    "means time falls as much as MACs do; 0.4 means only 40 % of the MAC reduction shows up as "
    "speed. Each configuration is timed on its own, one after another (medians after warm-up); "
    "for A/B ratios from interleaved runs in one process, use `benchmarks/speed.py`."
)


def _where(summary: dict[str, Any]) -> str:
    device = summary.get("speed_device") or "?"
    name = summary.get("device_name")
    return f"{device} ({name})" if name else device


def _row(summary: dict[str, Any], tsn: dict[str, Any]) -> list[Any]:
    mac_ratio = ratio(tsn.get("gmacs"), summary.get("gmacs"))
    infer = ratio(summary["infer_clips_per_s"], tsn.get("infer_clips_per_s"))
    train = ratio(summary.get("train_clips_per_s"), tsn.get("train_clips_per_s"))
    return [
        summary["label"],
        summary["frames"],
        f"{summary['side']}²",
        _where(summary),
        number(summary["infer_clips_per_s"]),
        number(summary.get("train_clips_per_s")),
        number(summary.get("gmacs")),
        times(mac_ratio),
        times(infer),
        times(train),
        number(ratio(infer, mac_ratio)),
        number(ratio(train, mac_ratio)),
    ]


def _verdict(summary: dict[str, Any], tsn: dict[str, Any]) -> str | None:
    mac_ratio = ratio(tsn.get("gmacs"), summary.get("gmacs"))
    infer = ratio(summary["infer_clips_per_s"], tsn.get("infer_clips_per_s"))
    if mac_ratio is None or infer is None:
        return None
    train = ratio(summary.get("train_clips_per_s"), tsn.get("train_clips_per_s"))
    return speed_verdict(
        summary["label"], tsn["label"], summary["frames"], mac_ratio, infer, train, _where(summary)
    )


HEADERS = (
    "model",
    "frames",
    "input",
    "device",
    "infer clips/s",
    "train clips/s",
    "GMACs",
    "MACs: TSN ÷ model",
    "infer time ratio",
    "train time ratio",
    "realized share (infer)",
    "realized share (train)",
)


def _table_and_verdicts(
    index: dict[ConfigKey, dict[str, Any]], timed: list[dict[str, Any]]
) -> tuple[str, str]:
    rows, verdicts = [], []
    for summary in timed:
        tsn = lookup(index, "tsn", summary["depth"], summary["frames"], summary["side"])
        rows.append(_row(summary, tsn))
        verdict = _verdict(summary, tsn) if summary["family"] == "blvnet_tam" else None
        if verdict:
            verdicts.append(verdict)
    if verdicts:
        verdict_text = "**Verdicts:**\n\n" + "\n".join(f"- {v}" for v in verdicts)
    else:
        verdict_text = "**Verdict:** no bLVNet-TAM configuration was timed beside TSN: no verdict."
    return table(HEADERS, rows, "lrllrrrrrrrr"), verdict_text


def speed_section(index: dict[ConfigKey, dict[str, Any]], out_dir: Path, prefix: str) -> str:
    """Clips/s of every timed configuration beside its MAC and time ratios to TSN."""
    heading = "## d. Speed next to MACs"
    timed = sorted((s for s in index.values() if "infer_clips_per_s" in s), key=sort_key)
    if not timed:
        return (
            f"{heading}\n\nNo configuration in this study was timed, so the MAC figures "
            "above stand without measured time beside them."
        )
    parts = [heading, DEFINITION]
    sides = sorted({s["side"] for s in timed if s["side"] != PAPER_SIDE})
    if sides:
        parts.append(
            f"Timed at {', '.join(f'{s}²' for s in sides)} input, not the paper's {PAPER_SIDE}² "
            "(a quick run); MACs and ratios in this section are at the timed size."
        )
    allocators = sorted({s["cpu_allocator"] for s in timed if s.get("cpu_allocator")})
    if allocators:
        parts.append(f"CPU allocator during the timings: {'; '.join(allocators)}.")
    parts += _table_and_verdicts(index, timed)
    infer, train, shared = speed_points(timed)
    if infer:  # timed rows with MACs counted
        where = ", ".join(sorted({_where(s) for s in timed}))
        title = f"Measured throughput vs MACs on {where}" + (f" ({shared})" if shared else "")
        png = charts.speed_vs_gmacs(infer, train, out_dir / f"{prefix}-speed-vs-gmacs.png", title)
        parts.append(image("Clips per second against GMACs per clip", png, out_dir))
    return "\n\n".join(parts)
