"""``blvprof reproduce`` (the paper's claims) and ``blvprof ablate`` (any grid): study runners.

Both run a study through the results store — finished runs are reused, so an interrupted run
resumes — then render a report from the store.
"""

import shlex
import statistics
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from blvprof.cli.options import (
    DEFAULT_DB,
    Db,
    Executor,
    Sets,
    StudyDevice,
    bounded,
    parse_csv_ints,
)
from blvprof.errors import UserError
from blvprof.records import Executor as ExecutorName
from blvprof.store import Store, check_store_path, check_writable_folder, digest
from blvprof.study import Study, check_name, load_study, study_from_dict, study_to_toml
from blvprof.sweep import (
    Outcome,
    Summary,
    Task,
    check_ray_address,
    plan,
    progress_printer,
    resolve_target,
    run_tasks,
    unfinished,
)
from blvprof.train.spec import DEFAULT_SEEDS, TrainSpec

PAPER_STUDY = "paper_claims.toml"
DEFAULT_OUT = Path("runs") / "reports"  # ignored by git: a fresh clone stays clean
CONFIRM_OVER = 500  # runs still to do above which a sweep needs --yes
Address = Annotated[str | None, typer.Option("--address", help="Ray cluster (default: local).")]
Workers = Annotated[
    int | None, typer.Option("--workers", help="Local runs in parallel.", **bounded("workers"))
]
Out = Annotated[
    Path,
    typer.Option("--out", help="Folder for the report and charts (the committed ones: "
                 "--out reports)."),
]
Yes = Annotated[
    bool,
    typer.Option("--yes", help=f"Start a sweep of more than {CONFIRM_OVER} runs without asking."),
]


@dataclass(frozen=True)
class Sweep:
    """A study checked and planned on the driver, ready to run: nothing written yet."""

    study: Study
    store_name: str
    tasks: list[Task]
    workers: int


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


def _prepare(study: Study, db: Path, executor: str, workers: int | None, address: str | None,
             device: str | None, yes: bool, quick: bool = False,
             store_name: str | None = None) -> Sweep:
    """Check everything a sweep needs (store, device, cluster, size) before anything is written."""
    check_store_path(db)
    target = resolve_target(device or study.measure.device, executor, address)
    if executor == ExecutorName.RAY and address is not None:
        check_ray_address(address)  # seconds and one line, not minutes of Ray's retries
    sweep = Sweep(study, store_name or study.name,
                  plan(study, quick=quick, store_name=store_name, target=target),
                  workers or study.resources.workers)
    if not yes:
        _confirm_size(sweep, db)
    return sweep


def _confirm_size(sweep: Sweep, db: Path) -> None:
    """Refuse to start more than CONFIRM_OVER runs without --yes, saying how long they may take."""
    if db.is_file():
        with Store(db) as store:
            todo = len(unfinished(sweep.tasks, store))
            seconds = [r["duration_s"] for r in store.runs(study=sweep.store_name)
                       if r["status"] == "ok" and r["duration_s"]]
    else:
        todo, seconds = len(sweep.tasks), []
    if todo <= CONFIRM_OVER:
        return
    if seconds:
        hours = todo * statistics.median(seconds) / sweep.workers / 3600
        estimate = f"about {hours:.1f} h at the median {statistics.median(seconds):.1f} s a run"
    else:
        estimate = "time unknown: none of its runs has finished yet"
    raise UserError(f"{sweep.study.name}: {todo} runs to do (more than {CONFIRM_OVER}; "
                    f"{estimate}); pass --yes to start them")


def _run(sweep: Sweep, db: Path, executor: str, address: str | None) -> Summary:
    """Run a prepared sweep; Ctrl-C stops it with one line on what is kept and how to resume."""
    study = sweep.study
    with Store(db) as store:
        done = len(store.finished_keys(sweep.store_name))
        print(f"{study.name}: {len(sweep.tasks)} runs ({done} already in {db})", file=sys.stderr)
        try:
            with _progress(len(sweep.tasks)) as on_done:
                summary = run_tasks(sweep.tasks, store, executor, sweep.workers, address,
                                    study.resources.cpus, study.resources.gpus, on_done=on_done)
        except KeyboardInterrupt:
            kept = len(sweep.tasks) - len(unfinished(sweep.tasks, store))
            print(f"blvprof: interrupted: {kept} of {len(sweep.tasks)} runs kept in {db}; "
                  f"resume with: {_command()}", file=sys.stderr)
            raise typer.Exit(130) from None
    held = f", {summary.held} left to another sweep on this store" if summary.held else ""
    print(f"{summary.ok} ran, {summary.skipped} reused, {summary.failed} failed{held} "
          f"in {summary.seconds:.0f} s", file=sys.stderr)
    return summary


def _command() -> str:
    """The command line that was run: rerunning it resumes (finished runs are reused)."""
    return "blvprof " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "blvprof"


@contextmanager
def _progress(total: int, console: Any = None) -> Iterator[Callable[[Outcome], None]]:
    """A live bar (runs done, failures, ETA) in a terminal; one line per run when piped."""
    from rich.console import Console

    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield progress_printer(total)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        job = bar.add_task("runs", total=total, failed=0)
        failed = 0

        def show(outcome: Outcome) -> None:
            nonlocal failed
            failed += outcome.status != "ok"
            bar.update(job, advance=1, failed=failed, description=outcome.task.label[:40])

        yield show


def reproduce(
    quick: Annotated[bool, typer.Option("--quick", help="Minutes on a CPU.")] = False,
    device: StudyDevice = None,
    db: Db = DEFAULT_DB,
    out: Out = DEFAULT_OUT,
    study_path: Annotated[Path | None, typer.Option("--study", help="Study file.")] = None,
    executor: Executor = ExecutorName.LOCAL,
    address: Address = None,
    workers: Workers = None,
    yes: Yes = False,
) -> None:
    """Run the paper-claims study and write paper-claims.md with its charts (in runs/reports)."""
    from blvprof.report.claims import render_paper_claims

    study = load_study(study_path or find_paper_study())
    name = f"{study.name}-quick" if quick else study.name
    check_writable_folder(out, f"cannot write the report to {out}")
    sweep = _prepare(study, db, executor, workers, address, device, yes, quick=quick,
                     store_name=name)
    _run(sweep, db, executor, address)
    with Store(db) as store:
        runs = store.runs(study=name)
    command = "blvprof " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "blvprof reproduce"
    try:
        path = render_paper_claims(runs, out, command, quick)
    except OSError as error:
        raise UserError(f"cannot write the report to {out}: {error.strerror or error}") from None
    print(path)


def ablate(
    target: Annotated[str, typer.Argument(help="A study file, or model name(s) for a grid.")],
    alpha: Annotated[str | None, typer.Option("--alpha", help="Comma list.")] = None,
    beta: Annotated[str | None, typer.Option("--beta", help="Comma list.")] = None,
    frames: Annotated[str | None, typer.Option("--frames", help="Comma list.")] = None,
    depth: Annotated[str | None, typer.Option("--depth", help="Comma list.")] = None,
    blending: Annotated[str | None, typer.Option("--blending", help="Comma list.")] = None,
    size: Annotated[
        int | None, typer.Option("--size", help="Input side.", **bounded("image_size"))
    ] = None,
    sets: Sets = None,
    data: Annotated[str | None, typer.Option("--data", help="Train on this data spec.")] = None,
    epochs: Annotated[
        int, typer.Option("--epochs", help="Training epochs.", **bounded("epochs"))
    ] = TrainSpec.epochs,
    batch: Annotated[
        int, typer.Option("--batch", help="Training batch.", **bounded("batch"))
    ] = TrainSpec.batch,
    lr: Annotated[
        float, typer.Option("--lr", help="Peak learning rate.", **bounded("lr"))
    ] = TrainSpec.lr,
    seeds: Annotated[
        str, typer.Option("--seeds", help="Training seeds, comma list: one run per seed.")
    ] = ",".join(map(str, DEFAULT_SEEDS)),
    name: Annotated[str | None, typer.Option("--name", help="Study name.")] = None,
    device: StudyDevice = None,
    db: Db = DEFAULT_DB,
    executor: Executor = ExecutorName.LOCAL,
    address: Address = None,
    workers: Workers = None,
    yes: Yes = False,
) -> None:
    """Run an ablation study: a TOML file, or an inline grid over config fields."""
    grid_options = {"alpha": alpha, "beta": beta, "num_frames": frames, "depth": depth,
                    "blending_frames": blending}
    spec: tuple[Path, str] | None = None
    if target.endswith(".toml") or Path(target).is_file():
        study = load_study(target)
    else:
        if name is not None:
            check_name(name, "--name")
        data_dict = inline_study(target, grid_options, size, sets, data, epochs, batch, lr, name,
                                 parse_csv_ints(seeds, "--seeds", minimum=0, bound="seed"))
        study = study_from_dict(data_dict, "command line", data_dict["study"]["name"])
        spec = (_spec_path(db, study.name), study_to_toml(data_dict))
        _check_spec(*spec)
    sweep = _prepare(study, db, executor, workers, address, device, yes)
    if spec is not None:  # every argument checked: only now write the study file
        _write_spec(*spec)
    summary = _run(sweep, db, executor, address)
    print(f"{study.name}: {summary.ok + summary.skipped} of {summary.planned} runs in {db}; "
          f"report: blvprof report --db {db} --study {study.name}")
    if summary.failed:
        raise typer.Exit(1)


def _spec_path(db: Path, name: str) -> Path:
    """Where an inline study's file goes: beside the store, never outside its folder."""
    folder = db.parent.resolve()
    if (folder / f"{name}.toml").resolve().parent != folder:  # check_name refuses paths already
        raise UserError(f"--name {name!r} would write outside {folder}")
    return db.parent / f"{name}.toml"


def _check_spec(path: Path, text: str) -> None:
    """An existing study file is reused only if it says the same; never overwritten."""
    if path.is_dir() or (path.exists() and _read(path) != text):
        raise UserError(f"{path} exists with other content; choose another --name or run "
                        f"blvprof ablate {path}")


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _write_spec(path: Path, text: str) -> None:
    if path.exists():  # the same study, checked by _check_spec: leave the file as it is
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x") as handle:  # "x": never replace a file that appeared meanwhile
            handle.write(text)
    except FileExistsError:
        _check_spec(path, text)
        return
    except OSError as error:
        raise UserError(f"cannot write the study file {path}: {error.strerror}") from None
    print(f"study written to {path} (rerun with: blvprof ablate {path})", file=sys.stderr)


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
        if seeds:
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
