"""``blvprof reproduce`` (the paper's claims) and ``blvprof ablate`` (any grid): study runners.

Both run a study through the results store — finished runs are reused, so an interrupted run
resumes — then render a report from the store.
"""

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from blvprof.cli.options import DEFAULT_DB, Db, Sets, StudyDevice, parse_csv_ints
from blvprof.errors import UserError
from blvprof.store import Store, digest
from blvprof.study import Study, load_study, study_from_dict, study_to_toml
from blvprof.sweep import (
    EXECUTORS,
    Summary,
    plan,
    progress_printer,
    resolve_target,
    run_tasks,
)

PAPER_STUDY = "paper_claims.toml"
Executor = Annotated[str, typer.Option("--executor", help="local or ray.")]
Address = Annotated[str | None, typer.Option("--address", help="Ray cluster (default: local).")]
Workers = Annotated[int | None, typer.Option("--workers", help="Local runs in parallel.")]
Out = Annotated[Path, typer.Option("--out", help="Folder for the report and charts.")]


def register(app: typer.Typer) -> None:
    app.command("reproduce")(reproduce)
    app.command("ablate")(ablate)


def find_paper_study() -> Path:
    """studies/paper_claims.toml in the working directory, else beside the installed package."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = root / "studies" / PAPER_STUDY
        if candidate.is_file():
            return candidate
    raise UserError(f"cannot find studies/{PAPER_STUDY}; pass --study PATH")


def _run(study: Study, db: Path, executor: str, workers: int | None, address: str | None,
         device: str | None, quick: bool = False, store_name: str | None = None) -> Summary:
    workers = workers or study.resources.workers
    if workers < 1:
        raise UserError(f"--workers {workers} must be positive")
    target = resolve_target(device or study.measure.device, executor, address)
    tasks = plan(study, quick=quick, store_name=store_name, target=target)
    with Store(db) as store:
        done = len(store.finished_keys(store_name or study.name))
        print(f"{study.name}: {len(tasks)} runs ({done} already in {db})", file=sys.stderr)
        summary = run_tasks(tasks, store, executor, workers, address, study.resources.cpus,
                            study.resources.gpus, on_done=progress_printer(len(tasks)))
    print(f"{summary.ok} ran, {summary.skipped} reused, {summary.failed} failed "
          f"in {summary.seconds:.0f} s", file=sys.stderr)
    return summary


def reproduce(
    quick: Annotated[bool, typer.Option("--quick", help="Minutes on a CPU.")] = False,
    device: StudyDevice = None,
    db: Db = DEFAULT_DB,
    out: Out = Path("reports"),
    study_path: Annotated[Path | None, typer.Option("--study", help="Study file.")] = None,
    executor: Executor = "local",
    address: Address = None,
    workers: Workers = None,
) -> None:
    """Run the paper-claims study and write paper-claims.md with its charts."""
    from blvprof.report.claims import render_paper_claims

    study = load_study(study_path or find_paper_study())
    name = f"{study.name}-quick" if quick else study.name
    _run(study, db, executor, workers, address, device, quick=quick, store_name=name)
    with Store(db) as store:
        runs = store.runs(study=name)
    command = "blvprof " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "blvprof reproduce"
    path = render_paper_claims(runs, out, command, quick)
    print(path)


def ablate(
    target: Annotated[str, typer.Argument(help="A study file, or model name(s) for a grid.")],
    alpha: Annotated[str | None, typer.Option("--alpha", help="Comma list.")] = None,
    beta: Annotated[str | None, typer.Option("--beta", help="Comma list.")] = None,
    frames: Annotated[str | None, typer.Option("--frames", help="Comma list.")] = None,
    depth: Annotated[str | None, typer.Option("--depth", help="Comma list.")] = None,
    blending: Annotated[str | None, typer.Option("--blending", help="Comma list.")] = None,
    size: Annotated[int | None, typer.Option("--size", help="Input side.")] = None,
    sets: Sets = None,
    data: Annotated[str | None, typer.Option("--data", help="Train on this data spec.")] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs.")] = 3,
    batch: Annotated[int, typer.Option("--batch", help="Training batch.")] = 8,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate.")] = 0.01,
    seeds: Annotated[
        str, typer.Option("--seeds", help="Training seeds, comma list: one run per seed.")
    ] = "0",
    name: Annotated[str | None, typer.Option("--name", help="Study name.")] = None,
    device: StudyDevice = None,
    db: Db = DEFAULT_DB,
    executor: Executor = "local",
    address: Address = None,
    workers: Workers = None,
) -> None:
    """Run an ablation study: a TOML file, or an inline grid over config fields."""
    if executor not in EXECUTORS:
        raise UserError(f"--executor {executor!r} is not one of {', '.join(EXECUTORS)}")
    grid_options = {"alpha": alpha, "beta": beta, "num_frames": frames, "depth": depth,
                    "blending_frames": blending}
    if target.endswith(".toml") or Path(target).is_file():
        study = load_study(target)
    else:
        data_dict = inline_study(target, grid_options, size, sets, data, epochs, batch, lr, name,
                                 parse_csv_ints(seeds, "--seeds", minimum=0))
        study = study_from_dict(data_dict, "command line", data_dict["study"]["name"])
        spec_path = db.parent / f"{study.name}.toml"
        spec_path.parent.mkdir(parents=True, exist_ok=True)
        spec_path.write_text(study_to_toml(data_dict))
        print(f"study written to {spec_path} (rerun with: blvprof ablate {spec_path})",
              file=sys.stderr)
    summary = _run(study, db, executor, workers, address, device)
    print(f"{study.name}: {summary.ok + summary.skipped} of {summary.planned} runs in {db}; "
          f"report: blvprof report --db {db} --study {study.name}")
    if summary.failed:
        raise typer.Exit(1)


def inline_study(target: str, grid_options: dict[str, str | None], size: int | None,
                 sets: list[str] | None, data: str | None, epochs: int, batch: int,
                 lr: float, name: str | None, seeds: list[int] | None = None) -> dict[str, Any]:
    """The study dict an inline ``ablate`` command stands for."""
    grid: dict[str, Any] = {"model": [m for m in target.split(",") if m]}
    for key, text in grid_options.items():
        if text is not None:
            grid[key] = parse_csv_ints(text, f"--{key}")
    for item in sets or []:
        key, sep, values = item.partition("=")
        if not sep:
            raise UserError(f"--set expects FIELD=VALUE[,VALUE...], got {item!r}")
        grid[key] = [_scalar(v) for v in values.split(",")]
    study: dict[str, Any] = {"grid": [grid]}
    if data is not None:
        study["train"] = {"data": data, "epochs": epochs, "batch": batch, "lr": lr,
                          **({"size": size} if size else {})}
        if seeds and seeds != [0]:  # seed 0 is the trainer's default
            study["train"]["seed"] = seeds if len(seeds) > 1 else seeds[0]
        study["measure"] = {"metrics": ["flops", "params", "memory"], "counter": "flop_counter"}
    elif size:
        grid["image_size"] = size
    study["study"] = {"name": name or f"ablate-{'-'.join(grid['model'])}-{digest(study)[:6]}"}
    return study


def _scalar(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()
