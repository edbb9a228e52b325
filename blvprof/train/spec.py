"""What a short training run is asked to do: a frozen, picklable spec checked on construction."""

import math
import typing
from dataclasses import dataclass, fields

from blvprof.data.spec import canonical_data_spec
from blvprof.errors import UserError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# A study trains every configuration once per seed, three unless it says otherwise: with one, a
# short run's luck cannot be told from an effect, and three is the fewest with a t interval
# that is not absurdly wide.
DEFAULT_SEEDS = (0, 1, 2)
# Fields a resumed run may change: how long to train, and how to load the data.
RESUMABLE_CHANGES = ("epochs", "workers")


@dataclass(frozen=True)
class TrainSpec:
    data: str = "synthetic"  # a data spec string for parse_data_spec
    epochs: int = 3
    # The default recipe is the studies' (studies/*.toml, reports/ablation-*.md: every zoo family,
    # three seeds each, on the synthetic benchmark). The paper's lr 0.01 at batch 64 starts from
    # ImageNet weights; these runs start from scratch. Batch 8 is the temporal-modules study's;
    # against 16 it changed which runs leave a pair at 50 % within it, not how many. At lr 0.05
    # I3D never learned the rotation pair on its own in 8 epochs; at 0.02 every seed did within
    # five (docs/recipe.md).
    batch: int = 8  # clips per step in each process (the global batch is batch × world size)
    lr: float = 0.02  # peak learning rate
    weight_decay: float = 5e-4  # on conv, linear and TAM weights; not on BN parameters or biases
    warmup_epochs: float = 1.0  # linear warm-up before the cosine decay (at most `epochs`)
    size: int = 112  # input side in pixels (the model's image_size is set to it)
    seed: int = 0
    deterministic: bool = False  # torch.use_deterministic_algorithms(True, warn_only=True)
    workers: int = 0  # DataLoader worker processes
    dense: bool = False  # strided instead of segment frame sampling (real data)
    skip_bad: bool = False  # skip unreadable samples instead of failing
    precision: str = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU; or fp32/bf16/fp16
    max_train_batches: int | None = None  # cap per epoch (quick studies)
    max_val_batches: int | None = None

    def __post_init__(self) -> None:
        _check_types(self)
        _check_values(self)
        # The benchmark's version is part of what a run did (and of its checkpoint's spec).
        object.__setattr__(self, "data", canonical_data_spec(self.data))


def _check_types(spec: TrainSpec) -> None:
    for item in fields(spec):
        value = getattr(spec, item.name)
        declared = typing.get_args(item.type) or (item.type,)  # int | None → (int, NoneType)
        allowed = (*declared, int) if float in declared else declared
        if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
            expected = " or ".join("None" if t is type(None) else t.__name__ for t in declared)
            raise UserError(f"{item.name}={value!r} must be {expected}")


def _check_values(spec: TrainSpec) -> None:
    problems = {
        "epochs": (spec.epochs >= 1, "must be at least 1"),
        "batch": (spec.batch >= 1, "must be at least 1"),
        "lr": (math.isfinite(spec.lr) and spec.lr > 0, "must be positive and finite"),
        "weight_decay": (
            math.isfinite(spec.weight_decay) and spec.weight_decay >= 0,
            "must be non-negative and finite",
        ),
        "warmup_epochs": (
            0 <= spec.warmup_epochs <= spec.epochs,
            f"must be between 0 and epochs ({spec.epochs})",
        ),
        "size": (spec.size >= 32, "must be at least 32 (a stride-32 net)"),
        "seed": (spec.seed >= 0, "must be non-negative"),
        "workers": (spec.workers >= 0, "must be non-negative"),
        "precision": (spec.precision in PRECISIONS, f"must be one of {', '.join(PRECISIONS)}"),
        "max_train_batches": (_positive_or_none(spec.max_train_batches), "must be at least 1"),
        "max_val_batches": (_positive_or_none(spec.max_val_batches), "must be at least 1"),
        "data": (bool(spec.data.strip()), "must name a dataset, e.g. synthetic"),
    }
    for name, (ok, why) in problems.items():
        if not ok:
            raise UserError(f"{name}={getattr(spec, name)!r} {why}")


def _positive_or_none(value: int | None) -> bool:
    return value is None or value >= 1


def resolve_precision(precision: str, device_type: str) -> str:
    """``auto`` → bf16 on CUDA, fp32 on CPU; fp16 (with a GradScaler) needs CUDA."""
    if precision == "auto":
        return "bf16" if device_type == "cuda" else "fp32"
    if precision == "fp16" and device_type != "cuda":
        raise UserError("precision='fp16' needs CUDA; use bf16 or fp32 on CPU")
    return precision
