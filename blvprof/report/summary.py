"""Profile records as flat summaries (the figures tables and charts show), the columns that
render them, and ratios between summaries.

:data:`COLUMNS` is the one list of figures: ``blvprof compare``, the study reports' profile
tables and ``blvprof profile`` all render from it, so a new metric needs one :class:`Column`.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from blvprof.records import Profile


@dataclass(frozen=True)
class Column:
    """One column of the summary tables: its figure from a record, header and format."""

    key: str
    header: str
    template: str = "{}"
    figure: Callable[[Profile], Any] | None = None  # None: a column that names the row
    larger_is_better: bool | None = None  # set: compared as a ratio to a reference row


def _per(value: float | None, unit: float) -> float | None:
    return None if value is None else value / unit


COLUMNS: tuple[Column, ...] = (
    Column("model", "model"),
    Column("depth", "depth"),
    Column("frames", "frames"),
    Column("gmacs", "GMACs/clip", "{:.2f}", lambda p: p.counts and _per(p.counts.macs, 1e9), False),
    Column("params_m", "params (M)", "{:.2f}", lambda p: _per(p.params, 1e6), False),
    Column("train_gflops", "train GFLOPs/clip", "{:.1f}",
           lambda p: p.counts and _per(p.counts.train_flops, 1e9)),
    Column("train_mib_per_clip", "train MiB/clip", "{:.0f}",
           lambda p: p.memory and _per(p.memory.per_clip_bytes, 2**20), False),
    Column("max_batch", "max batch", "{}", lambda p: p.memory and p.memory.max_batch, True),
    Column("infer_clips_per_s", "infer clips/s", "{:.2f}",
           lambda p: p.speed and p.speed.infer_clips_per_s, True),
    Column("train_clips_per_s", "train clips/s", "{:.2f}",
           lambda p: p.speed and p.speed.train_clips_per_s, True),
)
FIGURES = tuple(c for c in COLUMNS if c.figure is not None)
# Figures compared as ratios to a reference row; True where larger is better.
RATIO_METRICS: dict[str, bool] = {
    c.key: c.larger_is_better for c in FIGURES if c.larger_is_better is not None
}
_BY_KEY = {c.key: c for c in COLUMNS}


# Display names of the model families; the depth is appended ("TSN-R50", "bLVNet-TAM-101").
FAMILY_NAMES: dict[str, str] = {
    "blvnet_tam": "bLVNet-TAM-",
    "blvnet": "bLVNet-",
    "tsn": "TSN-R",
    "tam_resnet": "TAM-R",
    "tsm": "TSM-R",
    "i3d": "I3D-R",
}


def external_label(config: dict[str, Any]) -> str:
    """'nets/x.py:Net(width=8)': a model from outside the zoo, by its reference and arguments."""
    arguments = ", ".join(f"{k}={v}" for k, v in config.get("arguments", {}).items())
    return f"{config['callable']}({arguments})"


def model_label(family: str, depth: int | None, config: dict[str, Any] | None = None) -> str:
    """A reader's name for a model: 'TSN-R50', 'bLVNet-TAM-101', 'bLVNet-50 (no TAM)', and
    'bLVNet-TAM-50 (reference mode)' for the official operator sequence."""
    config = config or {}
    if family == "external":
        return external_label(config)
    suffix = " (reference mode)" if config.get("reference") else ""
    if family == "i3d" and config.get("slow_only"):
        prefix = "SlowOnly-R"
    elif family == "blvnet_tam" and config.get("use_tam") is False:
        return f"bLVNet-{depth} (no TAM){suffix}"
    else:
        prefix = FAMILY_NAMES.get(family, f"{family}-")
    name = f"{prefix}{depth}" if depth is not None else prefix.removesuffix("-R").rstrip("-")
    return name + suffix


def display_family(family: str, config: dict[str, Any]) -> str:
    """The family a model is shown as: bLVNet-TAM with TAM off is plain bLVNet."""
    return "blvnet" if family == "blvnet_tam" and config.get("use_tam") is False else family


def device_of(record: Profile) -> str:
    """The device a record's figures belong to: its GPU's name, or 'CPU' for any CPU (rows from
    CPUs have always been merged; a GPU's memory and time never mix with a CPU's)."""
    env = record.env
    if env is not None and env.on_gpu:
        return env.device_name or "a CUDA GPU"
    return "CPU"


def config_key(record: Profile) -> tuple[str, str, str]:
    """(device, model, resolved config): what tells one configuration's rows from another's."""
    return device_of(record), record.model, json.dumps(record.config, sort_keys=True, default=str)


def summarize(record: Profile) -> dict[str, Any]:
    """The figures a table shows for one profile record (absent metrics are absent keys)."""
    config = record.config
    row: dict[str, Any] = {
        "model": record.model,
        "family": display_family(record.family, config),
        "label": model_label(record.family, config.get("depth"), config),
        "depth": config.get("depth"),
        "frames": record.num_frames,
        "side": record.side,
        "reference": bool(config.get("reference")),
        "slow_only": bool(config.get("slow_only")),
        "config_key": config_key(record),
        "device_group": device_of(record),
    }
    for column in FIGURES:
        value = column.figure(record) if column.figure else None
        if value is not None:
            row[column.key] = value
    if record.memory:
        row["memory_method"] = record.memory.method
        row["max_batch_method"] = record.memory.max_batch_method
        row["budget_bytes"] = record.memory.budget_bytes
    if record.speed:
        row["speed_device"] = record.speed.device
        row["speed_batch"] = record.speed.batch
        if record.speed.cpu_allocator:
            row["cpu_allocator"] = record.speed.cpu_allocator
    if record.env:
        row["device_name"] = record.env.device_name
    return row


def ratio(value: float | None, reference: float | None) -> float | None:
    """value / reference, or None when either is missing or the reference is zero."""
    if value is None or reference in (None, 0):
        return None
    return value / reference


def add_ratios(
    rows: list[dict[str, Any]],
    group_keys: tuple[str, ...] = ("frames", "depth"),
    reference_model: str | None = None,
) -> list[dict[str, Any]]:
    """Each row gains '<metric>_ratio' = its value / the reference model's at the same group.

    The reference is ``reference_model`` or the first row's model. A row without a group key (a
    model reference has no depth) takes the one reference that matches its other keys, if one.
    """
    if not rows:
        return rows
    reference_model = reference_model or rows[0]["model"]
    references = {
        tuple(r.get(k) for k in group_keys): r for r in rows if r["model"] == reference_model
    }
    out = []
    for row in rows:
        reference = _reference_for(row, references, group_keys)
        extra = {
            f"{metric}_ratio": ratio(row.get(metric), reference.get(metric) if reference else None)
            for metric in RATIO_METRICS
            if metric in row
        }
        out.append({**row, **extra})
    return out


def _reference_for(
    row: dict[str, Any],
    references: dict[tuple[Any, ...], dict[str, Any]],
    group_keys: tuple[str, ...],
) -> dict[str, Any] | None:
    group = tuple(row.get(k) for k in group_keys)
    if group in references or None not in group:
        return references.get(group)
    matches = [
        r for key, r in references.items()
        if all(g is None or g == k for g, k in zip(group, key, strict=True))
    ]
    return matches[0] if len(matches) == 1 else None


def format_cell(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if key.endswith("_ratio"):
        return f"{value:.2f}×"
    template = _BY_KEY[key].template if key in _BY_KEY else "{}"
    try:
        return template.format(value)
    except (ValueError, TypeError):
        return str(value)


def header(key: str) -> str:
    if key.endswith("_ratio"):
        return f"{_BY_KEY[key.removesuffix('_ratio')].header} ratio"
    return _BY_KEY[key].header if key in _BY_KEY else key
