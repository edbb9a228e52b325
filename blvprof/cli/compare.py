"""``blvprof compare``: a grid of models × frames × depths as a study (planned with the sweep's
keys, so a repeated comparison measures nothing), printed as one table with ratios."""

import csv
import dataclasses
import json
import sys
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

import model as zoo
from blvprof import external
from blvprof.cli.options import (
    DEFAULT_DB,
    Batch,
    Budget,
    ChannelsLast,
    Classes,
    Compile,
    CudnnBenchmark,
    Db,
    Device,
    Json,
    Metrics,
    Precision,
    Seed,
    Size,
    Steps,
    Warmup,
    model_overrides,
    parse_csv_ints,
)
from blvprof.cli.profile import (
    InputShape,
    Layout,
    input_shape_of,
    open_store,
    reference_arguments,
    request_of,
    split_set,
)
from blvprof.errors import UserError
from blvprof.records import Device as DeviceName
from blvprof.records import Precision as PrecisionName
from blvprof.records import Profile, Request, Status
from blvprof.report.summary import (
    COLUMNS,
    RATIO_METRICS,
    add_ratios,
    format_cell,
    header,
    summarize,
)
from blvprof.store import digest
from blvprof.sweep import Task, machine_of, plan_profiles, resolve_target, run_tasks, unfinished

stderr = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)


def compare_command(
    models: Annotated[
        list[str], typer.Argument(help="Models or model references; ratios are to the first.")
    ],
    frames: Annotated[
        str | None,
        typer.Option(
            "--frames",
            help="Comma list of input frames (default: T of --input-shape, else 16). For a "
            "model reference, the clip's T (and its num_frames argument when it takes one).",
        ),
    ] = None,
    depth: Annotated[str | None, typer.Option("--depth", help="Comma list of depths.")] = None,
    size: Size = None,
    classes: Classes = None,
    batch: Batch = 1,
    device: Device = DeviceName.AUTO,
    metrics: Metrics = None,
    memory_budget: Budget = "16GiB",
    json_out: Json = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="Print the table as CSV.")] = False,
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="FIELD=VALUE (repeatable): a config field or a callable's argument, given to "
            "each model that has it.",
        ),
    ] = None,
    precision: Precision = PrecisionName.FP32,
    channels_last: ChannelsLast = False,
    compile_: Compile = False,
    cudnn_benchmark: CudnnBenchmark = False,
    warmup: Warmup = None,
    steps: Steps = None,
    seed: Seed = 0,
    db: Db = DEFAULT_DB,
    input_shape: InputShape = None,
    layout: Layout = None,
) -> None:
    """Profile a grid of models × frames × depths and print one table with ratios."""
    clip = input_shape_of(input_shape)
    if (clip is not None or layout is not None) and not any(map(external.is_reference, models)):
        raise UserError("--input-shape and --layout are for model references (FILE.py:CALLABLE)")
    frame_list = parse_csv_ints(frames or (str(clip[1]) if clip else "16"), "--frames")
    depths: list[int | None] = list(parse_csv_ints(depth, "--depth")) if depth else [None]
    grid = _GridOptions(size, classes, clip, _sets_by_model(models, sets))
    points = _dedupe(
        [_point(m, f, d, grid) for d in depths for f in frame_list for m in models]
    )
    requests = [
        request_of(
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
            by_module=0,
            seed=seed,
            input_shape=point_clip,
            layout=layout if external.is_reference(model) else None,
        )
        for model, overrides, point_clip in points
    ]
    records = _run_compare(requests, db)
    rows = add_ratios([summarize(r) for r in records])
    if json_out:
        records_json = [r.to_json() for r in records]
        print(json.dumps({"rows": _json_rows(rows), "records": records_json}, default=str))
    elif csv_out:
        _write_csv(rows)
    else:
        _print_compare(rows, records)


@dataclass(frozen=True)
class _GridOptions:
    """What every point of a comparison shares."""

    size: int | None
    classes: int | None
    clip: tuple[int, int, int, int] | None
    sets: dict[str, list[str]]  # the --set items each model takes


def _has(model: str, key: str) -> bool:
    if external.is_reference(model):
        signature = external.signature_of(external.load_callable(model), model)
        return signature.open or key in signature.types
    zoo.get_entry(model)  # an unknown name is its own error
    try:
        zoo.registry.field_type(model, key)
    except ValueError:
        return False
    return True


def _sets_by_model(models: list[str], sets: list[str] | None) -> dict[str, list[str]]:
    """Each ``--set`` goes to the models that have its field; one that none has is an error.

    One model gets every item, so its own message names a field it lacks.
    """
    items = sets or []
    if len(set(models)) == 1:
        return {models[0]: items}
    given: dict[str, list[str]] = {m: [] for m in models}
    for item in items:
        key, _ = split_set(item)
        holders = [m for m in given if _has(m, key)]
        if not holders:
            raise UserError(f"--set {item}: no model compared has {key!r} "
                            f"(models: {', '.join(given)})")
        for m in holders:
            given[m].append(item)
    return given


Point = tuple[str, dict[str, Any], tuple[int, int, int, int] | None]


def _point(model: str, frames: int, depth: int | None, grid: _GridOptions) -> Point:
    """(model, overrides or arguments, clip shape) of one comparison point."""
    if not external.is_reference(model):
        overrides = model_overrides(model, grid.sets[model], frames=frames, depth=depth,
                                    size=grid.size, classes=grid.classes)
        return model, overrides, None
    arguments = reference_arguments(model, grid.sets[model])
    takes = external.signature_of(external.load_callable(model), model).types
    for name, value in (("depth", depth), ("num_classes", grid.classes)):
        if value is not None and name in takes:
            arguments.setdefault(name, value)
    if grid.clip is None:  # the model declares its input: frames reach it as an argument
        if "num_frames" in takes:
            arguments.setdefault("num_frames", frames)
        return model, arguments, None
    channels, _, height, width = grid.clip
    side = (grid.size, grid.size) if grid.size else (height, width)
    return model, arguments, (channels, frames, *side)


def _dedupe(points: list[Point]) -> list[Point]:
    """A reference without a depth argument is one point per frame count, not one per depth."""
    seen, unique = set(), []
    for point in points:
        signature = (point[0], json.dumps(point[1], sort_keys=True, default=str), point[2])
        if signature not in seen:
            seen.add(signature)
            unique.append(point)
    return unique


def _as_point(request: Request) -> Request:
    """A comparison's request as a study's grid point asks it: a reference's clip and layout are
    input keys among its overrides."""
    overrides = dict(request.overrides)
    if request.input_shape is not None:
        overrides["input_shape"] = ",".join(map(str, request.input_shape))
    if request.layout is not None:
        overrides["layout"] = request.layout
    return dataclasses.replace(request, overrides=overrides, input_shape=None, layout=None)


def compare_study(requests: list[Request]) -> tuple[str, list[Task]]:
    """The comparison as a study: its name (the same for the same points and settings, so a
    repeated compare reuses its runs and is one report) and its runs, keyed as a study's are."""
    target = resolve_target(requests[0].device)
    points = [dataclasses.replace(_as_point(r), device=target.device) for r in requests]
    # the machine where a figure depends on it (a GPU, a timed CPU): one report per machine
    name = "compare-" + digest([[r.model, r.overrides, r.key_row(), machine_of(r, target)]
                                for r in points])[:8]
    return name, plan_profiles(name, points, target)


def _run_compare(requests: list[Request], db: Any) -> list[Profile]:
    """Run what the store lacks of the comparison (in a worker, as a sweep does); its records."""
    name, tasks = compare_study(requests)
    with open_store(db) as store:
        with Progress(console=stderr, disable=not stderr.is_terminal) as bar:
            job = bar.add_task("profiling", total=len(unfinished(tasks, store)))
            summary = run_tasks(tasks, store, on_done=lambda outcome: bar.update(
                job, advance=1, description=outcome.task.label[:40]))
        rows = {row["key"]: row for row in store.runs(study=name)}
    failed = [t for t in tasks if t.key not in rows or rows[t.key]["status"] != Status.OK]
    if failed:  # one line, as a bad flag is: the row is kept ('error' rows are retried)
        row = rows.get(failed[0].key)
        why = (row["error"] or row["status"]) if row else "left to another sweep on this store"
        raise UserError(f"{len(failed)} of {len(tasks)} runs did not finish; "
                        f"{failed[0].label}: {why}")
    print(f"{name}: {summary.ok} ran, {summary.skipped} reused in {db}", file=sys.stderr)
    return [Profile.from_row(rows[t.key]) for t in tasks]


def _json_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Summary rows as ``compare --json`` prints them: figures and names, no internal keys."""
    return [{k: v for k, v in row.items() if k not in ("config_key", "device_group")}
            for row in rows]


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    present = [c.key for c in COLUMNS if any(c.key in r for r in rows)]
    ratios = [f"{k}_ratio" for k in RATIO_METRICS if any(f"{k}_ratio" in r for r in rows)]
    return present + ratios


def _write_csv(rows: list[dict[str, Any]]) -> None:
    columns = _columns(rows)
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)


def _print_compare(rows: list[dict[str, Any]], records: list[Profile]) -> None:
    columns = _columns(rows)
    table = Table(*[header(c) for c in columns], title=f"ratios are to {rows[0]['model']}")
    for row in rows:
        cells = [format_cell(c, row.get(c)) for c in columns]
        if row.get("family") == external.FAMILY:  # a reference is named with its arguments
            cells[columns.index("model")] = row["label"]
        table.add_row(*cells)
    console = Console()
    console.print(table)
    methods = {r.memory.method for r in records if r.memory}
    env = records[0].env
    if env is None:
        return
    if methods:
        how = f"measured on {env.device_name}" if "cuda" in methods else "MemTracker, fake tensors"
        console.print(f"memory: {', '.join(sorted(methods))} ({how})")
    console.print(f"device: {env.device} ({env.device_name}), torch {env.torch}")
