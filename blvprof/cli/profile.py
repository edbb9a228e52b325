"""``blvprof profile``: one configuration measured, stored and shown; and what ``blvprof compare``
shares with it (the request from the options, a reference's arguments)."""

import json
import time
import uuid
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from blvprof import external
from blvprof.cli.options import (
    DEFAULT_DB,
    Alpha,
    Batch,
    Beta,
    Blending,
    Budget,
    ByModule,
    ChannelsLast,
    Classes,
    Compile,
    CudnnBenchmark,
    Db,
    Depth,
    Device,
    Frames,
    Json,
    Metrics,
    Precision,
    Seed,
    Sets,
    Size,
    Steps,
    Warmup,
    model_overrides,
    parse_budget,
    parse_metrics,
)
from blvprof.errors import UserError
from blvprof.profile import check_request, measure, resolve_device
from blvprof.records import Device as DeviceName
from blvprof.records import Flags, Profile, Request, Times, run_row
from blvprof.records import Precision as PrecisionName
from blvprof.report.summary import (
    COLUMNS,
    format_cell,
    model_label,
    summarize,
)
from blvprof.store import Store, now
from blvprof.units import format_bytes

ModelArg = Annotated[
    str,
    typer.Argument(
        help="Registered model name (see `blvprof models`), or a reference to a callable that "
        "returns an nn.Module: path/to/file.py:callable or package.module:callable (importing "
        "it runs its code)."
    ),
]
InputShape = Annotated[
    str | None,
    typer.Option(
        "--input-shape",
        help="C,T,H,W of one clip, for a model reference without an input_spec.",
    ),
]
Layout = Annotated[
    str | None,
    typer.Option(
        "--layout",
        help="How a model reference takes the clip: ncthw (default), ntchw, frames-in-batch "
        "(N·T, C, H, W) or frames-in-channels (N, T·C, H, W). Counts stay per clip.",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("profile")(profile_command)


def request_of(
    model: str,
    overrides: dict[str, Any],
    metrics: str | None,
    batch: int,
    device: DeviceName,
    budget: str,
    precision: PrecisionName,
    *,
    channels_last: bool,
    compile_: bool,
    cudnn_benchmark: bool,
    warmup: int | None,
    steps: int | None,
    by_module: int,
    seed: int,
    input_shape: tuple[int, ...] | None = None,
    layout: str | None = None,
) -> Request:
    device = resolve_device(device)
    on_gpu = device == DeviceName.CUDA
    return check_request(Request(
        model=model,
        overrides=overrides,
        metrics=parse_metrics(metrics, device),
        batch=batch,
        device=device,
        budget_bytes=parse_budget(budget),
        flags=Flags(precision, channels_last, compile_, cudnn_benchmark, seed),
        warmup=warmup if warmup is not None else (10 if on_gpu else 2),
        steps=steps if steps is not None else (50 if on_gpu else 5),
        by_module_depth=by_module,
        input_shape=input_shape,
        layout=layout,
    ))


def split_set(item: str) -> tuple[str, str]:
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set expects FIELD=VALUE, got {item!r}")
    return key.strip(), text.strip()


def reference_arguments(
    reference: str, sets: list[str] | None, **named: int | None
) -> dict[str, Any]:
    """A reference's keyword arguments from ``--set NAME=VALUE``, typed as the callable says.

    The zoo's named options (--depth, --frames, ...) are config fields, not arguments: refused.
    """
    given = [name for name, value in named.items() if value is not None]
    if given:
        raise UserError(f"--{given[0]} is an option of registered models; give {reference} "
                        "its arguments with --set NAME=VALUE (frames and size: --input-shape)")
    signature = external.signature_of(external.load_callable(reference), reference)
    pairs = [split_set(item) for item in sets or []]
    return {key: external.parse_argument(signature, key, text) for key, text in pairs}


def input_shape_of(text: str | None) -> tuple[int, int, int, int] | None:
    return external.parse_input_shape(text) if text is not None else None


def open_store(db: Any) -> Store:
    return Store(db)


def profile_command(
    model: ModelArg,
    depth: Depth = None,
    frames: Frames = None,
    alpha: Alpha = None,
    beta: Beta = None,
    blending: Blending = None,
    classes: Classes = None,
    size: Size = None,
    batch: Batch = 1,
    device: Device = DeviceName.AUTO,
    metrics: Metrics = None,
    memory_budget: Budget = "16GiB",
    json_out: Json = False,
    sets: Sets = None,
    precision: Precision = PrecisionName.FP32,
    channels_last: ChannelsLast = False,
    compile_: Compile = False,
    cudnn_benchmark: CudnnBenchmark = False,
    warmup: Warmup = None,
    steps: Steps = None,
    by_module: ByModule = 0,
    seed: Seed = 0,
    db: Db = DEFAULT_DB,
    input_shape: InputShape = None,
    layout: Layout = None,
) -> None:
    """Measure one model configuration: MACs, parameters, memory and speed."""
    named = dict(depth=depth, frames=frames, alpha=alpha, beta=beta, blending=blending,
                 classes=classes, size=size)
    if external.is_reference(model):
        overrides = reference_arguments(model, sets, **named)
    else:
        overrides = model_overrides(model, sets, **named)
    request = request_of(
        model,
        overrides,
        metrics,
        batch,
        device,
        memory_budget,
        precision,
        channels_last=channels_last,
        compile_=compile_,
        cudnn_benchmark=cudnn_benchmark,
        warmup=warmup,
        steps=steps,
        by_module=by_module,
        seed=seed,
        input_shape=input_shape_of(input_shape),
        layout=layout,
    )
    with open_store(db) as store:
        started, clock = now(), time.perf_counter()
        record = measure(request)
        times = Times(started, now(), time.perf_counter() - clock)
        store.add(run_row("profile", uuid.uuid4().hex, request, record, times))
    if json_out:
        print(json.dumps(record.to_json(), default=str))
    else:
        _print_profile(record)


# The summary columns _print_profile details in rows of its own; any other is one row
_DETAILED = ("model", "depth", "frames", "gmacs", "params_m", "train_gflops",
             "train_mib_per_clip", "max_batch", "infer_clips_per_s", "train_clips_per_s")


def _print_profile(record: Profile) -> None:
    console = Console()
    title = f"{record.model} {list(record.input_shape or ())}"
    if record.family == external.FAMILY:
        title = (f"{model_label(record.family, None, record.config)} "
                 f"{list(record.input_shape or ())} as {record.layout} "
                 f"{list(record.model_input_shape or ())}")
    table = Table("metric", "value", title=title)
    if record.counts:
        counts = record.counts
        table.add_row("GMACs / clip (conv+linear)", f"{counts.macs / 1e9:.2f}")
        if counts.fvcore_macs is not None:
            table.add_row("GMACs / clip (fvcore total)", f"{counts.fvcore_macs / 1e9:.2f}")
        if counts.train_flops is not None:
            table.add_row("train GFLOPs / clip (fwd+bwd)", f"{counts.train_flops / 1e9:.1f}")
        if counts.unsupported_ops is not None:
            ops = ", ".join(f"{k}×{v}" for k, v in counts.unsupported_ops.items())
            table.add_row("ops fvcore did not count", ops or "none")
    if record.params is not None:
        table.add_row("parameters", f"{record.params:,}")
    if record.memory:
        m = record.memory
        label = "measured" if m.method == "cuda" else "estimate"
        table.add_row(f"train peak @ batch {m.batch} ({label})", format_bytes(m.train_peak_bytes))
        table.add_row(f"infer peak @ batch {m.batch} ({label})", format_bytes(m.infer_peak_bytes))
        table.add_row("train memory per clip", format_bytes(m.per_clip_bytes))
        table.add_row(f"max batch in {format_bytes(m.budget_bytes)}", str(m.max_batch))
    if record.speed:
        s = record.speed
        table.add_row(f"infer ({s.device})",
                      f"{s.infer_ms:.1f} ms/step, {s.infer_clips_per_s:.2f} clips/s")
        table.add_row(f"train ({s.device})",
                      f"{s.train_ms:.1f} ms/step, {s.train_clips_per_s:.2f} clips/s")
        if s.peak_fraction is not None:
            table.add_row("share of GPU dense peak", f"{s.peak_fraction:.1%}")
    summary = summarize(record)
    for column in COLUMNS:
        if column.key not in _DETAILED and column.key in summary:
            table.add_row(column.header, format_cell(column.key, summary[column.key]))
    if record.env:
        table.add_row("device", f"{record.env.device}: {record.env.device_name}")
    console.print(table)
    if record.counts and record.counts.macs_by_module:
        console.print(_by_module_table(record.counts.macs_by_module, record.counts.macs))


def _by_module_table(by_module: dict[str, int], total_macs: int) -> Table:
    """Conv/linear/matmul MACs per module (fvcore), as GMACs and a share of the whole clip."""
    table = Table("module", "GMACs / clip", "share", title="MACs by module (conv+linear)")
    for name, macs in by_module.items():
        share = f"{macs / total_macs:.1%}" if total_macs else "-"
        table.add_row(name, f"{macs / 1e9:.3f}", share)
    return table
