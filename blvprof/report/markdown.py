"""Markdown building blocks: tables, number formats, image links, environment and failure blocks."""

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from blvprof.records import Environment, Status
from blvprof.report.stats import CONFIDENCE, Estimate
from blvprof.report.summary import model_label
from blvprof.units import format_bytes

MISSING = "–"
CI = f"{100 * CONFIDENCE:.0f} %"  # "95 %", as every percentage in the reports
# Environment fields shown in every report, with their row names.
ENV_FIELDS: tuple[tuple[str, str], ...] = (
    ("device", "device"),
    ("device_name", "device name"),
    ("torch", "torch"),
    ("cpu_threads", "CPU threads"),
    ("precision", "precision"),
    ("flags", "flags"),
    ("git_commit", "git commit"),
)
_FLAGS = (
    ("channels_last", "channels-last"),
    ("compiled", "torch.compile"),
    ("cudnn_benchmark", "cudnn.benchmark"),
)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub markdown table; ``align`` has one of l/r/c per column (default: first left)."""
    align = align or "l" + "r" * (len(headers) - 1)
    rules = {"l": ":--", "r": "--:", "c": ":-:"}
    lines = [
        "| " + " | ".join(_cell(h) for h in headers) + " |",
        "|" + "|".join(rules[a] for a in align) + "|",
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def number(value: float | None, digits: int = 2) -> str:
    return MISSING if value is None else f"{value:,.{digits}f}"


def times(value: float | None, digits: int = 2) -> str:
    """A ratio: '2.74×'."""
    return MISSING if value is None else f"{value:.{digits}f}×"


def percent(fraction: float | None, digits: int = 1) -> str:
    """A fraction 0..1 as '93.0 %'."""
    return MISSING if fraction is None else f"{100 * fraction:.{digits}f} %"


def signed_percent(fraction: float | None, digits: int = 2) -> str:
    """A relative difference as '+0.21 %'."""
    return MISSING if fraction is None else f"{100 * fraction:+.{digits}f} %"


def mean_sd(value: Estimate | None) -> str:
    """'85.3 ± 1.2 %' (the seeds' standard deviation), or the one value with one seed."""
    if value is None:
        return MISSING
    if value.std is None:
        return percent(value.mean)
    return f"{100 * value.mean:.1f} ± {100 * value.std:.1f} %"


def interval(low: float | None, high: float | None, clip: bool = True) -> str:
    """'[83.1, 87.5]' in points; accuracy intervals are clipped to 0..100."""
    if low is None or high is None:
        return MISSING
    if clip:
        low, high = max(low, 0.0), min(high, 1.0)
    return f"[{100 * low:.1f}, {100 * high:.1f}]"


def image(alt: str, png: Path, markdown_dir: Path) -> str:
    """An image link relative to the markdown file's folder."""
    return f"![{alt}]({Path(os.path.relpath(png, markdown_dir)).as_posix()})"


def regenerate_line(command: str) -> str:
    return f"Regenerate with: `{command}`"


def memory_method_text(method: str | None, device_name: str | None) -> str:
    """How memory figures were obtained, in words."""
    if method == "cuda":
        return f"measured on {device_name or 'a CUDA GPU'}"
    return "estimated (MemTracker on fake tensors, CPU)"


def max_batch_text(methods: Sequence[str | None]) -> str:
    """How the largest batch was found, in words ('search' on a GPU, 'estimate_timeline' on
    fake tensors, or a linear 'fit' in rows written before the estimate read its timeline)."""
    words = {
        "search": "found by trying batches until the GPU ran out of memory",
        "estimate_timeline": ("the largest batch whose own estimated peak fits (read off the "
                              "memory in use after each op at batches 2 and 4, which grows "
                              "linearly with the batch from batch 2 on)"),
        "fit": "predicted from fixed + per-clip memory (peak grows linearly with batch)",
    }
    return "; ".join(words.get(m or "fit", str(m)) for m in sorted(set(methods), key=str))


def budget_text(budget_bytes: int | None) -> str:
    return MISSING if budget_bytes is None else format_bytes(budget_bytes)


def slug(text: str) -> str:
    """'nvidia-h100-80gb-hbm3': a name made safe for a file, lower case."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "device"


def _env_value(env: Environment, field: str) -> str:
    if field == "flags":
        return ", ".join(f"{name} {'on' if getattr(env, key) else 'off'}" for key, name in _FLAGS)
    value = getattr(env, field)
    return MISSING if value is None else str(value)


def environment_block(runs: Sequence[dict[str, Any]]) -> str:
    """A table of the environments the runs were made in: one column per distinct environment."""
    counts: dict[tuple[str, ...], int] = {}
    for run in runs:
        if run["env"]:
            env = Environment.from_row(run["env"])
            signature = tuple(_env_value(env, f) for f, _ in ENV_FIELDS)
            counts[signature] = counts.get(signature, 0) + 1
    if not counts:
        return "No environment was recorded."
    headers = ["field", *(f"{n} run{'s' if n > 1 else ''}" for n in counts.values())]
    rows = [[name, *(sig[i] for sig in counts)] for i, (_, name) in enumerate(ENV_FIELDS)]
    return table(headers, rows, "l" * len(headers))


def failed_runs(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in runs if r["status"] != Status.OK]


def failed_runs_block(runs: Sequence[dict[str, Any]]) -> str:
    """A table of runs that ran out of memory or failed, or a line saying there were none."""
    failed = failed_runs(runs)
    if not failed:
        return "None: every run finished."
    rows = []
    for run in failed:
        config = run["config"] or {}
        label = model_label(run["family"] or run["model"], config.get("depth"), config)
        error = (run["error"] or "").strip().splitlines()
        rows.append(
            [
                label,
                config.get("num_frames", MISSING),
                run["kind"],
                run["status"],
                run["key"],
                _shorten(error[0] if error else MISSING, 120),
            ]
        )
    return table(["model", "frames", "kind", "status", "key", "error"], rows, "lrllll")


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
