"""Training runs of the store as summaries, and the config fields that tell them apart."""

from collections.abc import Sequence
from typing import Any

from blvprof.report.profiles import family_rank
from blvprof.report.summary import display_family, model_label

# Fields that may vary across a study, in column order, with their short names.
CONFIG_FIELDS = {
    "num_frames": "frames",
    "alpha": "α",
    "beta": "β",
    "blending_frames": "r",
    "image_size": "size",
}
TRAIN_FIELDS = {
    "data": "data",
    "epochs": "epochs",
    "batch": "batch",
    "lr": "lr",
    "size": "crop",
    "seed": "seed",
}


def train_summary(run: dict[str, Any]) -> dict[str, Any]:
    """The figures a training table shows for one run (None where absent)."""
    result, config = run["result"], run.get("config") or {}
    train = result.get("train") or {}
    family = run.get("family") or run["model"]
    return {
        "label": model_label(family, config.get("depth"), config),
        "family": display_family(family, config),
        "depth": config.get("depth"),
        "fields": {
            **{f"config.{k}": config.get(k) for k in config},
            **{f"train.{k}": train.get(k) for k in TRAIN_FIELDS},
        },
        "gmacs": result["macs"] / 1e9 if "macs" in result else None,
        "num_classes": config.get("num_classes"),
        "top1": train.get("top1"),
        "top5": train.get("top5"),
        "best_top1": train.get("best_top1"),
        "pair_mean": train.get("pair_accuracy_mean"),
        "pairs": train.get("pair_accuracy") or {},
        "pair_identity": train.get("pair_identity_mean"),
        "pair_identities": train.get("pair_identity") or {},
        "benchmark": benchmark_of(train),
        "seconds_per_epoch": train.get("seconds_per_epoch"),
    }


def benchmark_of(train: dict[str, Any]) -> str:
    """What made the run's clips: recorded since version 2 of the synthetic benchmark; a
    synthetic run without the field is of version 1."""
    data = str(train.get("data", ""))
    fallback = "synthetic-v1" if data.startswith("synthetic") else data.partition(":")[0]
    return train.get("benchmark") or fallback


def short_name(field: str) -> str:
    source, name = field.split(".", 1)
    names = CONFIG_FIELDS if source == "config" else TRAIN_FIELDS
    return names.get(name, name)


def varying_fields(summaries: Sequence[dict[str, Any]]) -> list[str]:
    """Config and training fields set to two or more values across the runs, in column order.

    A field only some models have (α on bLVNet, not on TSN) varies only if it takes two values;
    depth and TAM on/off are part of the model's label.
    """
    known = [f"config.{k}" for k in CONFIG_FIELDS] + [f"train.{k}" for k in TRAIN_FIELDS]
    seen = {f for s in summaries for f in s["fields"]}
    ordered = [f for f in known if f in seen] + sorted(seen - set(known))
    ordered = [f for f in ordered if f not in ("config.depth", "config.use_tam")]

    def values(field: str) -> list[Any]:
        return [s["fields"][field] for s in summaries if s["fields"].get(field) is not None]

    return [
        f
        for f in ordered
        if len({repr(v) for v in values(f)}) > 1
        and not any(isinstance(v, dict | list) for v in values(f))
    ]


def describe(summary: dict[str, Any], fields: Sequence[str]) -> str:
    """'α2 β4 16f' for the given fields (those set on this run)."""
    words = []
    for field in fields:
        value = summary["fields"].get(field)
        name = short_name(field)
        if value is None:
            continue
        if field == "config.num_frames":
            words.append(f"{value}f")
        else:
            words.append(f"{name}{value}" if name in ("α", "β", "r") else f"{name}={value}")
    return " ".join(words)


def train_order(summary: dict[str, Any]) -> tuple[Any, ...]:
    """Table order: baselines first, then by depth, label and field values."""
    values = tuple(_sortable(v) for v in summary["fields"].values())
    return (family_rank(summary["family"]), summary["depth"] or 0, summary["label"], values)


def _sortable(value: Any) -> tuple[int, float, str]:
    """Numbers in numeric order, then everything else by its text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, repr(value))
