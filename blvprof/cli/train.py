"""``blvprof train``: a short training run, recorded in the results store."""

import dataclasses
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from blvprof import external
from blvprof.cli.options import (
    DEFAULT_DB,
    Alpha,
    Beta,
    Blending,
    Db,
    Depth,
    Device,
    Frames,
    Json,
    Seed,
    Sets,
    bounded,
    model_overrides,
)
from blvprof.cli.profile import reference_arguments
from blvprof.errors import UserError
from blvprof.measure.env import environment
from blvprof.records import (
    Counter,
    Counts,
    Environment,
    Flags,
    Metric,
    Profile,
    Request,
    Times,
    Training,
    run_row,
)
from blvprof.report.summary import external_label
from blvprof.store import Run, Store, check_store_path, check_writable_folder, now
from blvprof.train import TrainingDiverged, TrainSpec, train_model
from blvprof.train.checkpoint import CHECKPOINT_FILE
from blvprof.train.distributed import launched_processes
from blvprof.train.trained_model import CLIP_CHANNELS

Data = Annotated[
    str,
    typer.Option(
        "--data", help="synthetic[:classes=10,samples=2000,seed=0], frames:ROOT or videos:ROOT."
    ),
]
Epochs = Annotated[int, typer.Option("--epochs", help="Epochs to train.", **bounded("epochs"))]
TrainBatch = Annotated[
    int, typer.Option("--batch", help="Clips per step in each process.", **bounded("batch"))
]
Lr = Annotated[
    float,
    typer.Option("--lr", help="Peak learning rate (cosine decay to zero).", **bounded("lr")),
]
WeightDecay = Annotated[
    float,
    typer.Option("--wd", help="Weight decay (not on BN parameters and biases).",
                 **bounded("weight_decay")),
]
WarmupEpochs = Annotated[
    float,
    typer.Option("--warmup", help="Epochs of linear LR warm-up.", **bounded("warmup_epochs")),
]
TrainSize = Annotated[
    int, typer.Option("--size", help="Input side in pixels.", **bounded("image_size"))
]
Workers = Annotated[
    int,
    typer.Option("--workers", help="DataLoader worker processes.", **bounded("loader_workers")),
]
Dense = Annotated[bool, typer.Option("--dense", help="Strided instead of segment sampling.")]
SkipBad = Annotated[bool, typer.Option("--skip-bad", help="Skip unreadable samples.")]
Deterministic = Annotated[
    bool, typer.Option("--deterministic", help="Deterministic kernels (warn where none exist).")
]
TrainPrecision = Annotated[
    str, typer.Option("--precision", help="auto (bf16 on CUDA, fp32 on CPU), fp32, bf16 or fp16.")
]
OutDir = Annotated[
    Path | None,
    typer.Option("--out", help="Checkpoint folder (default: runs/MODEL-TIMESTAMP)."),
]
Resume = Annotated[bool, typer.Option("--resume", help="Continue from --out/last.pt.")]
MaxTrainBatches = Annotated[
    int | None,
    typer.Option("--max-train-batches", help="Cap on training steps per epoch.",
                 **bounded("max_train_batches")),
]
TrainInputShape = Annotated[
    str | None,
    typer.Option(
        "--input-shape",
        help="C,T,H,W of one clip, for a model reference (C = 3, H = W = --size; --frames T "
        "alone will do).",
    ),
]
TrainLayout = Annotated[
    str | None,
    typer.Option(
        "--layout",
        help="How a model reference takes the clip: ncthw (default), ntchw, frames-in-batch "
        "(N·T, C, H, W) or frames-in-channels (N, T·C, H, W).",
    ),
]
MaxValBatches = Annotated[
    int | None,
    typer.Option("--max-val-batches", help="Cap on validation batches per epoch.",
                 **bounded("max_val_batches")),
]


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)


def train_command(
    model: Annotated[
        str,
        typer.Argument(
            help="Registered model name (see `blvprof models`), or a reference to a callable "
            "that returns an nn.Module: path/to/file.py:callable or package.module:callable "
            "(importing it runs its code)."
        ),
    ],
    data: Data = "synthetic",
    epochs: Epochs = TrainSpec.epochs,
    batch: TrainBatch = TrainSpec.batch,
    lr: Lr = TrainSpec.lr,
    wd: WeightDecay = TrainSpec.weight_decay,
    warmup: WarmupEpochs = TrainSpec.warmup_epochs,
    size: TrainSize = TrainSpec.size,
    frames: Frames = None,
    depth: Depth = None,
    alpha: Alpha = None,
    beta: Beta = None,
    blending: Blending = None,
    sets: Sets = None,
    workers: Workers = TrainSpec.workers,
    dense: Dense = False,
    skip_bad: SkipBad = False,
    deterministic: Deterministic = False,
    precision: TrainPrecision = TrainSpec.precision,
    seed: Seed = TrainSpec.seed,
    device: Device = "auto",
    out: OutDir = None,
    resume: Resume = False,
    max_train_batches: MaxTrainBatches = None,
    max_val_batches: MaxValBatches = None,
    json_out: Json = False,
    db: Db = DEFAULT_DB,
    input_shape: TrainInputShape = None,
    layout: TrainLayout = None,
) -> None:
    """Train a model briefly (SGD Nesterov, cosine LR) and record accuracy, loss and time."""
    zoo_options = dict(depth=depth, alpha=alpha, beta=beta, blending=blending)
    if external.is_reference(model):
        overrides = _reference_point(model, sets, frames, size, input_shape, layout,
                                     **zoo_options)
    elif input_shape is not None or layout is not None:
        raise UserError("--input-shape and --layout are for model references (FILE.py:CALLABLE)")
    else:
        overrides = model_overrides(model, sets, frames=frames, **zoo_options)
    spec = TrainSpec(
        data=data,
        epochs=epochs,
        batch=batch,
        lr=lr,
        weight_decay=wd,
        warmup_epochs=warmup,
        size=size,
        seed=seed,
        deterministic=deterministic,
        workers=workers,
        dense=dense,
        skip_bad=skip_bad,
        precision=precision,
        max_train_batches=max_train_batches,
        max_val_batches=max_val_batches,
    )
    out_dir = _out_dir(out, model, resume)
    check_store_path(db)  # before training: a run must not be lost to a bad --db at its end
    started, clock = now(), time.perf_counter()
    try:
        record = train_model(
            model,
            overrides,
            spec,
            device=device,
            out_dir=out_dir,
            resume=resume,
            progress=sys.stderr.isatty(),
        )
    except TrainingDiverged as error:  # a failed run, not bad input: exit code 1
        if launched_processes().main:
            print(f"blvprof: {error}", file=sys.stderr)
        raise typer.Exit(1) from None
    if not record:  # a process other than rank 0 of a torchrun launch
        return
    with Store(db) as store:
        store.add(_row(record, spec, out_dir, started, time.perf_counter() - clock))
    if json_out:
        print(json.dumps(record, default=str))
    else:
        _print_summary(record, out_dir)


def _reference_point(
    model: str,
    sets: list[str] | None,
    frames: int | None,
    size: int,
    input_shape: str | None,
    layout: str | None,
    **zoo_options: int | None,
) -> dict[str, Any]:
    """A reference's arguments and input keys, as a study point holds them; ``--frames`` alone
    gives its clip (the data's channels, side ``--size``)."""
    arguments = reference_arguments(model, sets, **zoo_options)
    clip = external.parse_input_shape(input_shape) if input_shape is not None else None
    if frames is not None:
        if clip is not None and clip[1] != frames:
            raise UserError(f"--frames {frames} conflicts with --input-shape {input_shape}")
        if arguments.get("num_frames", frames) != frames:
            raise UserError(f"--frames {frames} conflicts with --set "
                            f"num_frames={arguments['num_frames']}")
        clip = clip or (CLIP_CHANNELS, frames, size, size)
    inputs = {"input_shape": clip, "layout": layout}
    return {**arguments, **{k: v for k, v in inputs.items() if v is not None}}


def _run_name(model: str) -> str:
    """A folder name for the model: a reference's file stem (or module) and callable."""
    if not external.is_reference(model):
        return model
    reference = external.parse_reference(model)
    where = Path(reference.target).stem if reference.is_file else reference.target
    return f"{where}.{reference.attribute}"


def _out_dir(out: Path | None, model: str, resume: bool) -> Path:
    """The checkpoint folder; refuses to overwrite a run's checkpoint unless resuming it."""
    if out is None:
        if resume:
            raise UserError("--resume needs --out, the folder of the run to continue")
        return Path("runs") / f"{_run_name(model)}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder for the checkpoints")
    if not resume and (out / CHECKPOINT_FILE).exists():
        raise UserError(f"{out} already holds a run; pass --resume or choose another --out")
    check_writable_folder(out, f"cannot write checkpoints to {out}")
    return out


def _row(
    record: dict[str, Any], spec: TrainSpec, out_dir: Path, started: str, duration: float
) -> Run:
    """The run's store row (``records.run_row``): its counts per clip, as in ablation rows, and
    its training record, with the request the counts were made with and the recipe."""
    request = Request(record["model"], metrics=(Metric.FLOPS, Metric.PARAMS),
                      device=record["device"], counter=Counter.FLOP_COUNTER,
                      flags=Flags(precision=record["precision"], seed=spec.seed))
    trained = Profile(
        model=record["model"],
        family=record["family"],
        config=record["config"],
        params=record["params"],
        counts=Counts(record["macs"], Counter(record["macs_counter"]), record["train_flops"]),
        train=Training.from_row({k: v for k, v in record.items() if k != "config"}),
        env=Environment.from_row(environment(record["device"], request.flags)),
    )
    return run_row("train", out_dir.name, request, trained, Times(started, now(), duration),
                   train=dataclasses.asdict(spec))


def _print_summary(record: dict[str, Any], out_dir: Path) -> None:
    console = Console()
    table = Table("epoch", "train loss", "train top-1", "val loss", "val top-1", "val top-5", "s")
    for entry in record["history"]:
        table.add_row(
            str(entry["epoch"]),
            f"{entry['train_loss']:.3f}",
            f"{entry['train_top1']:.1%}",
            f"{entry['val_loss']:.3f}",
            f"{entry['val_top1']:.1%}",
            f"{entry['val_top5']:.1%}",
            f"{entry['seconds']:.1f}",
        )
    name = (external_label(record["config"]) if record["family"] == external.FAMILY
            else record["model"])
    table.title = f"{name} on {record['data']} ({record['device']}, {record['precision']})"
    console.print(table)
    line = (
        f"top-1 {record['top1']:.1%} (best {record['best_top1']:.1%}), top-5 {record['top5']:.1%}"
    )
    if record["pair_accuracy_mean"] is not None:
        line += f", time-reversed pairs {record['pair_accuracy_mean']:.1%} (chance 50%)"
    console.print(line)
    if record["stopped"]:
        console.print(f"stopped early: {record['stopped']}")
    console.print(
        f"{record['params']:,} parameters, {record['macs'] / 1e9:.2f} GMACs per clip; "
        f"checkpoint {out_dir / CHECKPOINT_FILE}"
    )
