"""The records one measurement travels in, request to report, and the vocabularies they use.

A :class:`Request` says what to measure; measurement (``blvprof.profile``) fills a
:class:`Profile` of typed results (:class:`Counts`, :class:`Memory`, :class:`Speed`,
:class:`Training`, :class:`Environment`); :func:`run_row` makes the one kind of store row
(:class:`Run`) from them; reports read rows back with :meth:`Profile.from_row`. Each record has
one ``to_row`` and one ``from_row``: rows written by older releases are read here and nowhere
else. Raw units throughout (MACs, bytes, seconds). No torch: reports import this module.
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Self, TypeVar

from blvprof.errors import UserError
from blvprof.units import GIB


class Device(StrEnum):
    AUTO = "auto"  # resolved on the driver: cuda when a GPU is visible, else cpu
    CPU = "cpu"
    CUDA = "cuda"


class Precision(StrEnum):
    FP32 = "fp32"
    BF16 = "bf16"  # autocast
    FP16 = "fp16"  # autocast


class Metric(StrEnum):
    FLOPS = "flops"  # MACs and training FLOPs per clip: Counts
    PARAMS = "params"
    MEMORY = "memory"  # Memory
    SPEED = "speed"  # Speed


class Counter(StrEnum):
    FVCORE = "fvcore"
    FLOP_COUNTER = "flop_counter"  # FlopCounterMode on fake tensors: no real forward, fast


class Executor(StrEnum):
    LOCAL = "local"  # worker processes on this machine
    RAY = "ray"


class Kind(StrEnum):
    PROFILE = "profile"
    TRAIN = "train"


class Status(StrEnum):
    OK = "ok"
    OOM = "oom"
    ERROR = "error"


FINISHED = (Status.OK, Status.OOM)  # a rerun skips these; an 'error' row is retried
DEFAULT_METRICS = (Metric.FLOPS, Metric.PARAMS, Metric.MEMORY)
DEFAULT_BUDGET = 16 * GIB
E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")


def choose(vocabulary: type[E], value: Any, what: str) -> E:
    """``value`` as a member of ``vocabulary``, or one line naming the choices."""
    try:
        return vocabulary(value)
    except ValueError:
        raise UserError(f"{what} {value!r} is not one of {', '.join(vocabulary)}") from None


def _kept(values: Mapping[str, Any]) -> dict[str, Any]:
    """An absent figure is an absent key, never a null."""
    return {k: v for k, v in values.items() if v is not None}


def _fields_of(cls: type[T], row: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return {k: v for k, v in row.items() if k in names}


@dataclass(frozen=True)
class Flags:
    """Per-measurement settings that change what a number means."""

    precision: Precision = Precision.FP32
    channels_last: bool = False
    compiled: bool = False
    cudnn_benchmark: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "precision", choose(Precision, self.precision, "precision"))


@dataclass(frozen=True)
class Request:
    """What to measure of one model configuration, and how."""

    model: str  # a registered name, or a reference FILE.py:CALLABLE / MODULE:CALLABLE
    overrides: dict[str, Any] = field(default_factory=dict)  # config fields, or the callable's
    metrics: tuple[Metric, ...] = DEFAULT_METRICS
    batch: int = 1
    device: Device = Device.CPU
    budget_bytes: int = DEFAULT_BUDGET
    flags: Flags = field(default_factory=Flags)
    warmup: int = 2
    steps: int = 5
    by_module_depth: int = 0
    counter: Counter = Counter.FVCORE
    # One clip's C, T, H, W and how the model takes it, for a reference without an input_spec
    input_shape: tuple[int, ...] | None = None
    layout: str | None = None  # None: the model's declared layout, else ncthw

    def __post_init__(self) -> None:
        metrics = []
        for name in self.metrics:
            if name not in tuple(Metric):
                raise UserError(f"unknown metric {name!r}; choose from {', '.join(Metric)}")
            metrics.append(Metric(name))
        object.__setattr__(self, "metrics", tuple(metrics))
        object.__setattr__(self, "device", choose(Device, self.device, "device"))
        object.__setattr__(self, "counter", choose(Counter, self.counter, "counter"))
        if self.batch < 1:
            raise UserError(f"batch={self.batch} must be positive")
        if self.warmup < 0 or self.steps < 1:
            raise UserError("warmup must be >= 0 and steps >= 1")

    @property
    def estimates_memory(self) -> bool:
        """Whether memory is asked for and estimated on fake tensors (anywhere but on CUDA)."""
        return Metric.MEMORY in self.metrics and self.device != Device.CUDA

    def to_row(self) -> dict[str, Any]:
        """The row's ``settings``: how it was measured (the model and config have columns)."""
        return {
            "metrics": list(self.metrics),
            "batch": self.batch,
            "device": self.device,
            "budget_bytes": self.budget_bytes,
            "warmup": self.warmup,
            "steps": self.steps,
            "counter": self.counter,
            "by_module_depth": self.by_module_depth,
            **dataclasses.asdict(self.flags),
            **_kept({"input_shape": self.input_shape and list(self.input_shape),
                     "layout": self.layout}),
        }

    @classmethod
    def from_row(cls, model: str, overrides: dict[str, Any], settings: Mapping[str, Any]
                 ) -> Self:
        flags = Flags(**_fields_of(Flags, settings))
        fields = _fields_of(cls, settings)
        shape = fields.pop("input_shape", None)
        return cls(model, overrides, **{**fields, "metrics": tuple(settings["metrics"])},
                   flags=flags, input_shape=tuple(shape) if shape else None)

    def key_row(self) -> dict[str, Any]:
        """What a run's key says of the request: what a study sets, and the rest where it is not
        the default (so the keys of rows written before a setting existed still match)."""
        key = {"metrics": list(self.metrics), "batch": self.batch, "device": self.device,
               "budget_bytes": self.budget_bytes, "precision": self.flags.precision,
               "warmup": self.warmup, "steps": self.steps, "counter": self.counter}
        defaults = Flags()
        for name in ("channels_last", "compiled", "cudnn_benchmark", "seed"):
            if getattr(self.flags, name) != getattr(defaults, name):
                key[name] = getattr(self.flags, name)
        if self.by_module_depth:
            key["by_module_depth"] = self.by_module_depth
        return key


@dataclass(frozen=True)
class FlopCounts:
    """FlopCounterMode's count of a training step per clip (2 FLOPs per MAC)."""

    forward_flops: int
    backward_flops: int
    train_flops: int
    forward_equals_2x_macs: bool | None = None  # with fvcore: the cross-check


@dataclass(frozen=True)
class Counts:
    """MACs per clip (the paper's "FLOPs": conv + linear + matmul of one forward pass)."""

    macs: int
    counter: Counter
    train_flops: int | None = None  # forward + backward FLOPs, from FlopCounterMode
    macs_per_frame: float | None = None
    flop_counter: FlopCounts | None = None
    fvcore_macs: int | None = None  # fvcore only: everything it counts (adds batch norm, ...)
    macs_by_operator: dict[str, int] | None = None
    unsupported_ops: dict[str, int] | None = None  # ops fvcore saw but did not count
    macs_by_module: dict[str, int] | None = None  # --by-module

    def to_row(self) -> dict[str, Any]:
        """The record's top-level keys (documented in docs/records.md)."""
        return _kept({
            "macs": self.macs,
            "macs_counter": self.counter,
            "macs_per_frame": self.macs_per_frame,
            "train_flops": self.train_flops,
            "flop_counter": self.flop_counter and _kept(dataclasses.asdict(self.flop_counter)),
            "fvcore_macs": self.fvcore_macs,
            "macs_by_operator": self.macs_by_operator,
            "unsupported_ops": self.unsupported_ops,
            "macs_by_module": self.macs_by_module,
        })

    @classmethod
    def from_row(cls, result: Mapping[str, Any]) -> Self | None:
        if "macs" not in result:
            return None
        counted = result.get("flop_counter")
        return cls(
            macs=result["macs"],
            counter=Counter(result.get("macs_counter", Counter.FVCORE)),
            train_flops=result.get("train_flops"),
            macs_per_frame=result.get("macs_per_frame"),
            flop_counter=FlopCounts(**counted) if counted else None,
            fvcore_macs=result.get("fvcore_macs"),
            macs_by_operator=result.get("macs_by_operator"),
            unsupported_ops=result.get("unsupported_ops"),
            macs_by_module=result.get("macs_by_module"),
        )


@dataclass(frozen=True)
class Memory:
    """Peak memory of inference and of one training step (``blvprof.measure.memory``)."""

    method: str  # "cuda" (measured) or "estimate" (MemTracker on fake tensors)
    batch: int
    infer_peak_bytes: int
    train_peak_bytes: int
    fixed_bytes: int  # training memory that does not grow with the batch
    per_clip_bytes: int  # training memory each further clip adds
    budget_bytes: int
    max_batch: int  # largest training batch that fits the budget
    max_batch_method: str = "fit"  # "search" (OOM search on the device), "estimate_timeline"
    # (the largest batch whose estimated peak fits) or "fit" (fixed + per clip alone: rows
    # written before the estimate read its timeline)
    breakdown: dict[str, int] = field(default_factory=dict)  # by kind at the training peak
    infer_reserved_bytes: int | None = None  # cuda: held by the caching allocator
    train_reserved_bytes: int | None = None
    requested_budget_bytes: int | None = None  # cuda: the budget asked for, when above the
    # device's memory (budget_bytes is then the device's memory, what the search could use)
    fit_batches: tuple[int, ...] = (1, 2)  # the two batches fixed and per-clip come from

    def to_row(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "fit_batches": list(self.fit_batches)}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Self:
        fields = _fields_of(cls, row)
        if "fit_batches" in fields:
            fields["fit_batches"] = tuple(fields["fit_batches"])
        return cls(**fields)


@dataclass(frozen=True)
class Timing:
    """Seconds per call over the timed calls (after warm-up)."""

    median_s: float
    min_s: float
    max_s: float
    p10_s: float
    p90_s: float
    calls: int


@dataclass(frozen=True)
class Speed:
    """Throughput of inference and of a training step (``blvprof.measure.speed``)."""

    device: str
    batch: int
    num_frames: int
    infer: Timing
    train: Timing
    infer_clips_per_s: float
    train_clips_per_s: float
    infer_frames_per_s: float
    train_frames_per_s: float
    infer_ms: float  # median per step
    train_ms: float
    achieved_train_flops_per_s: float | None  # from FlopCounterMode's forward+backward count
    peak_flops_per_s: float | None  # dense peak of the GPU at this precision; None if unknown
    peak_fraction: float | None
    cpu_allocator: str | None = None  # on CPU: how glibc was set up (see keep_freed_memory)

    def to_row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Self:
        fields = _fields_of(cls, row)
        return cls(**{**fields, "infer": Timing(**row["infer"]), "train": Timing(**row["train"])})


@dataclass(frozen=True)
class Training:
    """A short training run's outcome (``blvprof.train``); the figures reports read are typed,
    the rest (history, class names, ...) is kept as it came in ``more``."""

    data: Any = None  # the data spec, with the synthetic benchmark's version written out
    epochs: int | None = None
    batch: int | None = None
    lr: float | None = None
    size: int | None = None
    seed: int | None = None
    num_classes: int | None = None
    top1: float | None = None
    top5: float | None = None
    best_top1: float | None = None
    pair_accuracy: dict[str, float] | None = None  # within each time-reversed class pair
    pair_accuracy_mean: float | None = None
    pair_identity: dict[str, float] | None = None  # the predicted class is of the clip's pair
    pair_identity_mean: float | None = None
    benchmark: str | None = None  # what made the clips: 'synthetic-v2', 'frames', ...
    seconds_per_epoch: float | None = None
    stopped: str | None = None  # why training stopped early, if it did
    more: dict[str, Any] = field(default_factory=dict)

    def to_row(self) -> dict[str, Any]:
        typed = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                 if f.name != "more"}
        return {**self.more, **typed}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Self:
        typed = _fields_of(cls, row)
        typed.pop("more", None)
        more = {k: v for k, v in row.items() if k not in typed}
        if typed.get("benchmark") is None:  # recorded since version 2 of the benchmark
            data = str(typed.get("data") or "")
            typed["benchmark"] = ("synthetic-v1" if data.startswith("synthetic")
                                  else data.partition(":")[0])
        return cls(**typed, more=more)


@dataclass(frozen=True)
class Environment:
    """Where a record was measured (``blvprof.measure.env``): results of two machines, devices
    or flag settings are told apart by it."""

    device: str | None = None  # 'cpu' or 'cuda'
    device_name: str | None = None  # the GPU's name on CUDA, else the CPU model
    blvprof: str | None = None
    git_commit: str | None = None  # '+dirty' for local changes
    python: str | None = None
    torch: str | None = None
    cuda: str | None = None
    cudnn: int | None = None
    cpu: str | None = None
    cpu_count: int | None = None
    cpu_threads: int | None = None
    platform: str | None = None
    gpu: str | None = None
    gpu_index: int | None = None
    gpu_memory_bytes: int | None = None
    cudnn_allow_tf32: bool | None = None
    matmul_allow_tf32: bool | None = None
    precision: str | None = None
    channels_last: bool | None = None
    compiled: bool | None = None
    cudnn_benchmark: bool | None = None
    seed: int | None = None

    @property
    def on_gpu(self) -> bool:
        return self.device == Device.CUDA

    def to_row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Self:
        return cls(**_fields_of(cls, row))


RECORD = "record"  # a Profile field's metadata: the record class it holds, stored under its name


@dataclass(frozen=True)
class Profile:
    """One configuration's record: what was measured, per clip (docs/records.md). A metric's
    record is a field whose metadata names the record's class (the counts are fields of their
    own, as the record's keys have always been)."""

    model: str  # the registered name, or the reference text
    family: str  # the zoo family, or 'external' for a reference
    config: dict[str, Any]  # the resolved config
    input_shape: tuple[int, ...] | None = None  # (batch, C, T, H, W) of the clip measured
    layout: str | None = None  # how the model takes the clip
    model_input_shape: tuple[int, ...] | None = None  # input_shape in that layout
    num_frames: int | None = None  # the clip's T (input frames: bLVNet-TAM 8×2 is 16)
    params: int | None = None
    counts: Counts | None = None  # its keys are the record's own (macs, train_flops, ...)
    memory: Memory | None = field(default=None, metadata={RECORD: Memory})
    speed: Speed | None = field(default=None, metadata={RECORD: Speed})
    train: Training | None = field(default=None, metadata={RECORD: Training})
    env: Environment | None = None

    def to_row(self) -> dict[str, Any]:
        """The row's ``result``: the record without its config and environment (columns)."""
        shapes = {k: list(v) for k in ("input_shape", "model_input_shape")
                  if (v := getattr(self, k)) is not None}
        return _kept({
            "model": self.model,
            "family": self.family,
            **shapes,
            "layout": self.layout,
            "per": "clip" if self.input_shape is not None else None,
            "num_frames": self.num_frames,
            "params": self.params,
            **(self.counts.to_row() if self.counts else {}),
            **{f.name: value.to_row() for f in _NESTED if (value := getattr(self, f.name))},
        })

    def to_json(self) -> dict[str, Any]:
        """The record as ``blvprof profile --json`` prints it."""
        return {**self.to_row(), "config": self.config,
                "env": self.env.to_row() if self.env else {}}

    @classmethod
    def from_row(cls, run: Mapping[str, Any]) -> Self:
        """A store row (JSON columns decoded) as a record."""
        result = run.get("result") or {}
        nested = {f.name: f.metadata[RECORD].from_row(result[f.name])
                  for f in _NESTED if result.get(f.name)}
        return cls(
            model=run["model"],
            family=run.get("family") or run["model"],
            config=run.get("config") or {},
            input_shape=_shape(result.get("input_shape")),
            layout=result.get("layout"),
            model_input_shape=_shape(result.get("model_input_shape")),
            num_frames=result.get("num_frames", (run.get("config") or {}).get("num_frames")),
            params=result.get("params"),
            counts=Counts.from_row(result),
            env=Environment.from_row(run["env"]) if run.get("env") else None,
            **nested,
        )

    @property
    def side(self) -> int | None:
        """The input's spatial side in pixels, from the measured shape or else the config."""
        if self.input_shape:
            return int(self.input_shape[-1])
        return self.config.get("image_size")


_NESTED = tuple(f for f in dataclasses.fields(Profile) if RECORD in f.metadata)


def _shape(value: list[int] | None) -> tuple[int, ...] | None:
    return tuple(value) if value is not None else None


@dataclass(frozen=True)
class Run:
    """One row of the store's ``runs`` table (docs/records.md), JSON columns as dicts."""

    study: str
    key: str
    kind: str
    model: str
    family: str | None
    config: dict[str, Any]
    settings: dict[str, Any]
    result: dict[str, Any] | None
    env: dict[str, Any] | None
    status: str
    error: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None


@dataclass(frozen=True)
class Failure:
    """A run that did not finish: out of memory, or an error (its first line)."""

    status: Status
    error: str
    config: dict[str, Any]  # what the row says the model is, as far as it is known
    family: str | None


@dataclass(frozen=True)
class Times:
    started_at: str
    finished_at: str
    duration_s: float


def run_row(study: str, key: str, request: Request, outcome: Profile | Failure, times: Times,
            train: Mapping[str, Any] | None = None) -> Run:
    """The store row of one run: the only place a row is made from records.

    ``train`` is the training recipe (``TrainSpec`` fields) of a run that trains, else None.
    """
    recorded = isinstance(outcome, Profile)
    return Run(
        study=study,
        key=key,
        kind=Kind.TRAIN if train is not None else Kind.PROFILE,
        model=request.model,
        family=outcome.family,
        config=outcome.config,
        settings={**request.to_row(), "train": dict(train) if train is not None else None},
        result=outcome.to_row() if recorded else None,
        env=outcome.env.to_row() if recorded and outcome.env else None,
        status=Status.OK if recorded else outcome.status,
        error=None if recorded else outcome.error,
        started_at=times.started_at,
        finished_at=times.finished_at,
        duration_s=times.duration_s,
    )
