"""Training runs of the store as summaries, and the config fields that tell them apart."""

from collections.abc import Sequence
from typing import Any

from blvprof.records import Profile, Training
from blvprof.report.profiles import family_rank
from blvprof.report.summary import device_of, display_family, model_label

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


def train_summary(record: Profile) -> dict[str, Any]:
    """The figures a training table shows for one training run's record (None where absent)."""
    config, train = record.config, record.train or Training()
    return {
        "model": record.model,
        "label": model_label(record.family, config.get("depth"), config),
        "family": display_family(record.family, config),
        "depth": config.get("depth"),
        "device_group": device_of(record),
        "fields": {
            **{f"config.{k}": config.get(k) for k in config},
            **{f"train.{k}": getattr(train, k) for k in TRAIN_FIELDS},
        },
        "gmacs": record.counts.macs / 1e9 if record.counts else None,
        # a model reference's config has no num_classes field: the run's data gives it
        "num_classes": config.get("num_classes") or train.num_classes,
        "top1": train.top1,
        "top5": train.top5,
        "best_top1": train.best_top1,
        "pair_mean": train.pair_accuracy_mean,
        "pairs": train.pair_accuracy or {},
        "pair_identity": train.pair_identity_mean,
        "pair_identities": train.pair_identity or {},
        "benchmark": train.benchmark,
        "seconds_per_epoch": train.seconds_per_epoch,
    }


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
