"""Bounds on every number a user can give, declared once: CLI options, study fields, config fields.

Without an upper bound a number such as ``--batch 100000000000000000000`` reaches torch and fails
as a 60-line ``OverflowError``; with one it is refused as one line before anything runs. The CLI
options take their ``min``/``max`` from :data:`BOUNDS`; study files and ``--set`` pairs are checked
with :func:`check`. The bounds are generous: they exist to catch typos and overflow, not to
decide what fits in memory (that is the out-of-memory path's job).
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from blvprof.errors import UserError


@dataclass(frozen=True)
class Bound:
    low: float
    high: float

    def describe(self) -> str:
        return f"between {_number(self.low)} and {_number(self.high)}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# Keyed by the name a value has in a config, a study file or a TrainSpec; CLI options map onto
# these in blvprof.cli.options.
BOUNDS: dict[str, Bound] = {
    # model config fields (--depth, --frames, --set FIELD=VALUE, [[grid]], [defaults])
    "depth": Bound(1, 1000),
    "num_frames": Bound(1, 1024),
    "alpha": Bound(1, 64),
    "beta": Bound(1, 64),
    "blending_frames": Bound(1, 63),
    "num_classes": Bound(1, 1_000_000),
    "base_width": Bound(1, 4096),
    "in_channels": Bound(1, 64),
    "image_size": Bound(32, 8192),
    "shift_div": Bound(1, 1024),
    "dropout": Bound(0, 1),
    # measuring ([measure], [speed], profile/compare options)
    "batch": Bound(1, 65536),
    "warmup": Bound(0, 100_000),
    "steps": Bound(1, 100_000),
    "quick_steps": Bound(1, 100_000),
    "size": Bound(32, 8192),
    "quick_size": Bound(32, 8192),
    "by_module": Bound(0, 32),
    "seed": Bound(0, 2**32 - 1),  # numpy's seed range, the narrowest of the generators seeded
    "memory_budget": Bound(2**20, 2**60),
    # training ([train], blvprof train)
    "epochs": Bound(1, 100_000),
    "lr": Bound(0, 100),
    "weight_decay": Bound(0, 10),
    "warmup_epochs": Bound(0, 100_000),
    "loader_workers": Bound(0, 256),
    "max_train_batches": Bound(1, 10**9),
    "max_val_batches": Bound(1, 10**9),
    # sweeps ([resources], ablate/reproduce)
    "workers": Bound(1, 256),
    "cpus": Bound(0, 4096),
    "gpus": Bound(0, 64),
}


def check(name: str, value: Any, label: str | None = None) -> Any:
    """``value`` if it is within ``name``'s bound (or ``name`` has none); else a UserError.

    ``label`` is how the message names the value (``--batch``, ``study.toml: measure.batch``).
    Booleans and non-numbers pass: type checks are the caller's.
    """
    bound = BOUNDS.get(name)
    if bound is None or isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if not (math.isfinite(value) and bound.low <= value <= bound.high):
        raise UserError(f"{label or name}={value} is out of range: must be {bound.describe()}")
    return value


def check_all(values: Mapping[str, Any], label: str = "") -> None:
    """Check every bounded key of ``values``; ``label`` prefixes each key in the message."""
    for key, value in values.items():
        check(key, value, f"{label}{key}")
