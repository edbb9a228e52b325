"""Bad input, hostile names and out-of-memory: one line on stderr, exit 2, nothing written (#14)."""

import io
import os
from pathlib import Path

import pytest

from blvprof.cli import report as report_cli
from blvprof.cli import study as study_cli
from blvprof.errors import describe_out_of_memory, is_out_of_memory
from blvprof.records import Failure, Profile, Request, Status, Times
from blvprof.store import Store
from blvprof.sweep import Outcome, Task, _failure
from tests.cli.run import Result, run

HUGE = "100000000000000000000"  # 1e20: overflows every C integer torch uses
TINY_TSN = ["--depth", "26", "--frames", "4", "--set", "base_width=8"]
TINY_GRID = ["--depth", "26", "--frames", "4", "--size", "64", "--set", "base_width=8"]


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its content (None for folders): the file system's state."""
    return {str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
            for p in sorted(root.rglob("*"))}


def one_line(result: Result, *fragments: str) -> str:
    """The single stderr line of a refused command (exit 2), checked to hold each fragment."""
    assert result.code == 2, (result.code, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture
def cli(tmp_path, capsys, monkeypatch):
    """Run blvprof in tmp_path/work (the cwd), asserting nothing changed there on refusal."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return lambda args: run(args, capsys, monkeypatch)


@pytest.mark.parametrize("args", [
    ["profile", "tsn", "--batch", HUGE],
    ["profile", "tsn", "--classes", HUGE],
    ["profile", "tsn", "--classes", "1e20"],
    ["profile", "tsn", "--set", f"num_classes={HUGE}"],
    ["profile", "tsn", "--size", HUGE],
    ["profile", "tsn", "--by-module", "-1"],
    ["profile", "tsn", "--seed", HUGE],
    ["profile", "tsn", "--memory-budget", "100000000000PiB"],
    ["train", "tsn", "--epochs", HUGE],
    ["train", "tsn", "--lr", "1e300"],
    ["ablate", "tsn", "--workers", "0"],
    ["ablate", "tsn", "--frames", HUGE],
    ["ablate", "tsn", "--seeds", HUGE, "--data", "synthetic"],
])
def test_out_of_range_numbers_are_one_line(args, cli, tmp_path) -> None:
    result = cli([*args, "--db", "r.db"])
    one_line(result)
    assert "Traceback" not in result.err and tree(tmp_path / "work") == {}


@pytest.mark.parametrize(("table", "reason"), [
    ("[[grid]]\nmodel = 'tsn'\nnum_classes = 100000000000000000\n", "grid[0].num_classes="),
    ("[measure]\nbatch = 100000000000000000\n[[grid]]\nmodel = 'tsn'\n", "measure.batch="),
    ("[measure]\nmemory_budget = '99999999999PiB'\n[[grid]]\nmodel = 'tsn'\n",
     "measure.memory_budget"),
    ("[resources]\ngpus = 1e300\n[[grid]]\nmodel = 'tsn'\n", "resources.gpus="),
    ("[study]\nname = '../../x'\n[[grid]]\nmodel = 'tsn'\n", "must be a plain name"),
])
def test_study_fields_are_bounded(table, reason, cli, tmp_path) -> None:
    study = tmp_path / "s.toml"
    study.write_text(table)
    one_line(cli(["ablate", str(study), "--db", "r.db"]), "s.toml", reason)
    assert tree(tmp_path / "work") == {}


def test_cpu_out_of_memory_in_a_command_is_one_line(cli, tmp_path) -> None:
    # 65536 clips of 4×8192² pixels: the allocator refuses ~50 TB at once, nothing is touched
    result = cli(["profile", "tsn", *TINY_TSN, "--size", "8192", "--batch", "65536",
                  "--metrics", "speed", "--warmup", "0", "--steps", "1", "--db", "r.db"])
    one_line(result, "out of memory (CPU): tried to allocate", "smaller --batch")
    with Store(tmp_path / "work" / "r.db") as store:
        assert store.runs() == []


def test_out_of_memory_is_one_test_for_cuda_cpu_and_python() -> None:
    cpu = RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: "
                       "can't allocate memory: you tried to allocate 844424930131968 bytes.")
    cuda = RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has ...")
    task = Task("s", "k", Request("tsn", metrics=("memory",)))
    for error in (cpu, cuda, MemoryError()):
        assert is_out_of_memory(error)
        assert _failure(task, error).status == Status.OOM  # a sweep's row: finished, not retried
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert _failure(task, RuntimeError("shape mismatch")).status == Status.ERROR
    assert describe_out_of_memory(cpu).startswith("out of memory (CPU): tried to allocate 786,432")
    assert "(CUDA): tried to allocate 20.00 GiB" in describe_out_of_memory(cuda)


def test_export_refuses_an_unknown_study_like_report(cli, tmp_path) -> None:
    db = tmp_path / "r.db"
    assert cli(["profile", "tsn", *TINY_TSN, "--metrics", "params", "--db", str(db)]).code == 0
    for verb in ("export", "report"):
        one_line(cli([verb, "--db", str(db), "--study", "nosuch"]),
                 "study 'nosuch' is not in", "studies: profile")
    assert tree(tmp_path / "work") == {}


def test_report_names_what_it_could_not_write(cli, tmp_path) -> None:
    db = tmp_path / "r.db"
    assert cli(["profile", "tsn", *TINY_TSN, "--metrics", "params", "--db", str(db)]).code == 0
    one_line(cli(["report", "--db", str(db), "--out", "/proc/x"]),
             "cannot write the reports to /proc/x")
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    one_line(cli(["export", "--db", str(db), "--out", str(blocker / "x.csv")]),
             f"cannot write the export to {blocker / 'x.csv'}")
    assert blocker.read_text() == "mine" and tree(tmp_path / "work") == {}


def test_report_and_reproduce_write_outside_the_committed_tree_by_default(cli, tmp_path) -> None:
    assert report_cli.DEFAULT_OUT == study_cli.DEFAULT_OUT == Path("runs") / "reports"
    db = tmp_path / "r.db"
    assert cli(["profile", "tsn", *TINY_TSN, "--metrics", "params", "--db", str(db)]).code == 0
    result = cli(["report", "--db", str(db)])
    assert result.code == 0, result.err
    written = {p.split(os.sep)[0] for p in tree(tmp_path / "work")}
    assert written == {"runs"} and (tmp_path / "work" / "runs" / "reports" / "index.md").is_file()


@pytest.mark.parametrize("option", [["--device", "tpu"], ["--db", "."],
                                    ["--executor", "ray", "--device", "cpu",
                                     "--address", "127.0.0.1:1"]])
def test_ablate_checks_arguments_before_writing_its_study(option, cli, tmp_path) -> None:
    args = ["ablate", "tsn", *TINY_GRID, "--db", "r.db"]
    line = one_line(cli([*args, *option]))
    assert "study written" not in line and tree(tmp_path / "work") == {}


def test_ray_address_nothing_answers_at_is_one_line(cli) -> None:
    line = one_line(cli(["ablate", "tsn", "--executor", "ray", "--device", "cpu",
                         "--address", "127.0.0.1:1", "--db", "r.db"]))
    assert line == "blvprof: error: cannot reach a Ray cluster at 127.0.0.1:1: Connection refused"


@pytest.mark.parametrize("name", ["../../x", "/abs/x", "../pyproject", ".hidden", "a/b"])
def test_study_names_cannot_leave_the_store_folder(name, cli, tmp_path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'real'\n")
    before = tree(tmp_path)
    one_line(cli(["ablate", "tsn", *TINY_GRID, "--name", name, "--db", "store/r.db"]),
             "must be a plain name")
    assert tree(tmp_path) == before
    assert not Path("/abs/x.toml").exists()


def test_an_existing_study_file_with_other_content_is_never_overwritten(cli, tmp_path) -> None:
    mine = tmp_path / "work" / "mine.toml"
    mine.write_text("# my notes\n")
    one_line(cli(["ablate", "tsn", *TINY_GRID, "--name", "mine", "--db", "r.db"]),
             "mine.toml exists with other content")
    assert tree(tmp_path / "work") == {"mine.toml": b"# my notes\n"}


def test_a_large_grid_needs_yes(cli, tmp_path) -> None:
    classes = ",".join(str(n) for n in range(1, study_cli.CONFIRM_OVER + 2))
    line = one_line(cli(["ablate", "tsn", *TINY_GRID, "--set", f"num_classes={classes}",
                         "--db", "r.db"]))
    assert f"{study_cli.CONFIRM_OVER + 1} runs to do" in line and "pass --yes" in line
    assert tree(tmp_path / "work") == {}


def test_train_checks_out_and_db_before_training(cli, tmp_path) -> None:
    existing = tmp_path / "work" / "notes.txt"
    existing.write_text("keep")
    not_sqlite = tmp_path / "work" / "other.db"
    not_sqlite.write_text("not a database")
    args = ["train", "tsn", *TINY_TSN, "--size", "64", "--epochs", "1"]
    one_line(cli([*args, "--out", str(existing), "--db", "r.db"]), "is a file")
    one_line(cli([*args, "--out", "run", "--db", str(not_sqlite)]), "is not a results store")
    one_line(cli([*args, "--out", "run", "--db", "."]), "is a folder")
    assert tree(tmp_path / "work") == {"notes.txt": b"keep", "other.db": b"not a database"}


def test_progress_is_a_live_bar_in_a_terminal_and_lines_when_piped() -> None:
    from rich.console import Console

    task = Task("s", "k", Request("tsn", {"num_frames": 4}, metrics=("params",)))
    outcomes = [Outcome(task, result, Times("", "", 0.1)) for result in (
        Profile("tsn", "tsn", {}), Failure(Status.ERROR, "boom", {}, "tsn"))]
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=120)
    with study_cli._progress(2, terminal) as show:
        for outcome in outcomes:
            show(outcome)
    assert "2/2" in screen.getvalue() and "1 failed" in screen.getvalue()
    piped = Console(file=io.StringIO(), force_terminal=False)
    with study_cli._progress(2, piped) as show:
        assert show.__name__ == "show" and "progress_printer" in show.__qualname__
