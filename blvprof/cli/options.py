"""Option types shared by the commands, declared once, and the parsing helpers they need."""

import typing
from pathlib import Path
from typing import Annotated, Any

import typer

import model as zoo
from blvprof import records
from blvprof.errors import UserError
from blvprof.external import value_from_text
from blvprof.limits import BOUNDS, check
from blvprof.records import DEFAULT_METRICS, Metric
from blvprof.units import parse_bytes


def bounded(name: str) -> dict[str, Any]:
    """Option settings that check a value against ``name``'s entry in :data:`BOUNDS` (one place),
    with a message that names the field and the value: ``num_frames=0 is out of range: …``."""
    if name not in BOUNDS:
        raise KeyError(f"no bound for {name!r}")

    def within(value: Any) -> Any:
        try:
            return value if value is None else check(name, value)
        except UserError as error:
            raise typer.BadParameter(str(error)) from None

    return {"callback": within}


Depth = Annotated[
    int | None,
    typer.Option("--depth", help="ResNet depth: 26, 50, 101 or 152 (see `blvprof models`).",
                 **bounded("depth")),
]
Frames = Annotated[
    int | None,
    typer.Option("--frames", help="Input frames (bLVNet 8×2 = 16).", **bounded("num_frames")),
]
Alpha = Annotated[
    int | None,
    typer.Option("--alpha", help="bLVNet: little branch width divisor.", **bounded("alpha")),
]
Beta = Annotated[
    int | None,
    typer.Option("--beta", help="bLVNet: little branch depth divisor.", **bounded("beta")),
]
Blending = Annotated[
    int | None,
    typer.Option("--blending", help="TAM kernel r (odd).", **bounded("blending_frames")),
]
Classes = Annotated[
    int | None, typer.Option("--classes", help="Number of classes.", **bounded("num_classes"))
]
Size = Annotated[
    int | None,
    typer.Option("--size", help="Input side in pixels (default 224).", **bounded("image_size")),
]
Batch = Annotated[
    int, typer.Option("--batch", help="Clips per step for memory and speed.", **bounded("batch"))
]
Device = Annotated[records.Device, typer.Option("--device", help="Where to run.")]
StudyDevice = Annotated[
    records.Device | None,
    typer.Option(
        "--device",
        help="Default: the study file's measure.device. Resolved and checked here before any "
        "run; CUDA runs are keyed by the GPU's name. With --executor ray --address, give cpu or "
        "cuda: this machine cannot see the cluster's devices.",
    ),
]
Executor = Annotated[
    records.Executor, typer.Option("--executor", help="Where the runs execute.")
]
Metrics = Annotated[
    str | None,
    typer.Option(
        "--metrics",
        help=f"Comma list of {','.join(Metric)} "
        f"(default: {','.join(DEFAULT_METRICS)}; plus speed on CUDA).",
    ),
]
Budget = Annotated[
    str, typer.Option("--memory-budget", help="Memory for the largest-batch search.")
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
Db = Annotated[Path, typer.Option("--db", help="SQLite results store.")]
Sets = Annotated[
    list[str] | None,
    typer.Option("--set", help="FIELD=VALUE for any other config field (repeatable)."),
]
Precision = Annotated[
    records.Precision, typer.Option("--precision", help="fp32, or bf16/fp16 through autocast.")
]
ChannelsLast = Annotated[bool, typer.Option("--channels-last", help="Channels-last memory format.")]
Compile = Annotated[bool, typer.Option("--compile", help="torch.compile the model first.")]
CudnnBenchmark = Annotated[bool, typer.Option("--cudnn-benchmark", help="cudnn.benchmark = True.")]
Warmup = Annotated[
    int | None,
    typer.Option("--warmup", help="Untimed steps (CPU 2, CUDA 10).", **bounded("warmup")),
]
Steps = Annotated[
    int | None, typer.Option("--steps", help="Timed steps (CPU 5, CUDA 50).", **bounded("steps"))
]
ByModule = Annotated[
    int,
    typer.Option("--by-module", help="MACs per module to this depth (0: none).",
                 **bounded("by_module")),
]
Seed = Annotated[int, typer.Option("--seed", help="Random seed.", **bounded("seed"))]

DEFAULT_DB = Path("blvprof.db")


def parse_csv_ints(text: str, name: str, minimum: int = 1, bound: str | None = None
                   ) -> list[int]:
    """Integers of a comma list; ``bound`` names their entry in :data:`BOUNDS`."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{name} must be a comma list of integers, got {text!r}") from None
    if not values or any(v < minimum for v in values):
        kind = "positive integers" if minimum == 1 else f"integers of at least {minimum}"
        raise UserError(f"{name} must be {kind}, got {text!r}")
    if bound is not None:
        for value in values:
            check(bound, value, name)
    return values


def parse_budget(text: str) -> int:
    try:
        return check("memory_budget", parse_bytes(text), "--memory-budget")
    except ValueError as error:
        raise UserError(f"--memory-budget: {error}") from None


def parse_metrics(text: str | None, device: records.Device) -> tuple[str, ...]:
    """The metrics a comma list names (checked by the Request), or the device's default."""
    if text is None:
        on_gpu = device == records.Device.CUDA
        return (*DEFAULT_METRICS, Metric.SPEED) if on_gpu else DEFAULT_METRICS
    metrics = tuple(m.strip() for m in text.split(",") if m.strip())
    if not metrics:
        raise UserError(f"--metrics {text!r} names no metric; choose from {', '.join(Metric)}")
    return metrics


def parse_value(model_name: str, field_name: str, text: str) -> Any:
    """Convert ``text`` to the declared type of a config field (as a model reference's
    arguments are: one conversion, :func:`blvprof.external.value_from_text`)."""
    annotation = zoo.registry.field_type(model_name, field_name)
    try:
        return value_from_text(text, annotation)
    except ValueError:
        if typing.get_origin(annotation) is typing.Literal:
            choices = ", ".join(map(str, typing.get_args(annotation)))
            raise UserError(f"--set {field_name}={text}: choose from {choices}") from None
        raise UserError(
            f"--set {field_name}={text}: expected {zoo.registry.type_name(annotation)}"
        ) from None


def model_overrides(model_name: str, sets: list[str] | None, **named: int | None) -> dict[str, Any]:
    """Config overrides from the named options (those given) and ``--set FIELD=VALUE`` pairs."""
    zoo.get_entry(model_name)  # fail on an unknown model before anything else
    fields = {
        "depth": "depth",
        "frames": "num_frames",
        "alpha": "alpha",
        "beta": "beta",
        "blending": "blending_frames",
        "classes": "num_classes",
        "size": "image_size",
    }
    overrides: dict[str, Any] = {fields[k]: v for k, v in named.items() if v is not None}
    for item in sets or []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set expects FIELD=VALUE, got {item!r}")
        overrides[key.strip()] = parse_value(model_name, key.strip(), text.strip())
    for key, value in overrides.items():  # the named options are bounded by Typer already
        check(key, value)
    return overrides
