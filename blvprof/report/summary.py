"""Flat summaries of profile records, and ratios between them, for tables and charts."""

from typing import Any

# Columns of a summary row, with a header and how the value is formatted.
COLUMNS: dict[str, tuple[str, str]] = {
    "model": ("model", "{}"),
    "depth": ("depth", "{}"),
    "frames": ("frames", "{}"),
    "gmacs": ("GMACs/clip", "{:.2f}"),
    "params_m": ("params (M)", "{:.2f}"),
    "train_gflops": ("train GFLOPs/clip", "{:.1f}"),
    "train_mib_per_clip": ("train MiB/clip", "{:.0f}"),
    "max_batch": ("max batch", "{}"),
    "infer_clips_per_s": ("infer clips/s", "{:.2f}"),
    "train_clips_per_s": ("train clips/s", "{:.2f}"),
}
# Metrics compared as ratios to a reference row; True where larger is better.
RATIO_METRICS: dict[str, bool] = {
    "gmacs": False,
    "params_m": False,
    "train_mib_per_clip": False,
    "max_batch": True,
    "infer_clips_per_s": True,
    "train_clips_per_s": True,
}


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


def record_of(run: dict[str, Any]) -> dict[str, Any]:
    """A store row as a profile record: its result plus model, family, config and env."""
    return {
        **(run.get("result") or {}),
        "model": run["model"],
        "family": run.get("family") or run["model"],
        "config": run.get("config") or {},
        "env": run.get("env") or {},
    }


def image_side(record: dict[str, Any]) -> int | None:
    """The input's spatial side in pixels, from the measured shape or else the config."""
    shape = record.get("input_shape")
    if shape:
        return int(shape[-1])
    return record.get("config", {}).get("image_size")


def summarize(record: dict[str, Any]) -> dict[str, Any]:
    """The figures a table shows for one profile record (absent metrics are absent keys)."""
    config = record.get("config", {})
    family = record.get("family") or record["model"]
    row: dict[str, Any] = {
        "model": record["model"],
        "family": display_family(family, config),
        "label": model_label(family, config.get("depth"), config),
        "depth": config.get("depth"),
        "frames": record.get("num_frames", config.get("num_frames")),
        "side": image_side(record),
        "reference": bool(config.get("reference")),
    }
    if "macs" in record:
        row["gmacs"] = record["macs"] / 1e9
    if "train_flops" in record:
        row["train_gflops"] = record["train_flops"] / 1e9
    if "params" in record:
        row["params_m"] = record["params"] / 1e6
    memory = record.get("memory")
    if memory:
        row["train_mib_per_clip"] = memory["per_clip_bytes"] / 2**20
        row["max_batch"] = memory["max_batch"]
        row["memory_method"] = memory["method"]
        row["max_batch_method"] = memory.get("max_batch_method")
        row["budget_bytes"] = memory.get("budget_bytes")
    speed = record.get("speed")
    if speed:
        row["infer_clips_per_s"] = speed["infer_clips_per_s"]
        row["train_clips_per_s"] = speed["train_clips_per_s"]
        row["speed_device"] = speed.get("device")
        if speed.get("cpu_allocator"):
            row["cpu_allocator"] = speed["cpu_allocator"]
    if record.get("env"):
        row["device_name"] = record["env"].get("device_name")
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
    template = COLUMNS.get(key, ("", "{}"))[1]
    try:
        return template.format(value)
    except (ValueError, TypeError):
        return str(value)


def header(key: str) -> str:
    if key.endswith("_ratio"):
        return f"{COLUMNS[key.removesuffix('_ratio')][0]} ratio"
    return COLUMNS.get(key, (key, ""))[0]
