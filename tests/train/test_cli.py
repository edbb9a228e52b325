"""``blvprof train`` through the real entry point, on an app holding just this command."""

import json
from pathlib import Path
from typing import Any

import pytest
import typer

import blvprof.cli
import blvprof.train.loop as loop
from blvprof.cli import train as train_cli
from blvprof.store import Store
from tests.cli.run import Result, run

TINY_ARGS = ["--depth", "26", "--frames", "4", "--set", "base_width=8", "--set", "dropout=0.0"]
QUICK_ARGS = ["--data", "synthetic:classes=4,samples=16", "--epochs", "1", "--size", "32"]


@pytest.fixture
def train_app(monkeypatch: pytest.MonkeyPatch) -> None:
    app = typer.Typer(pretty_exceptions_enable=False)
    app.callback()(lambda: None)  # keep `train` a sub-command, as in the full app
    train_cli.register(app)
    monkeypatch.setattr(blvprof.cli, "app", app)


def _train(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], mp: pytest.MonkeyPatch
) -> Result:
    where = ["--db", str(tmp_path / "runs.db"), "--out", str(tmp_path / "run1")]
    return run(["train", "tsn", *TINY_ARGS, *QUICK_ARGS, *where, *args], capsys, mp)


@pytest.mark.usefixtures("train_app")
def test_json_prints_one_document_and_the_store_gets_a_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _train(["--json", "--device", "cpu"], tmp_path, capsys, monkeypatch)
    assert result.code == 0, result.err
    record = json.loads(result.out)  # nothing but one JSON document on stdout
    assert len(record["history"]) == 1 and record["model"] == "tsn"
    with Store(tmp_path / "runs.db") as store:
        (row,) = store.runs(study="train")
    assert (row["kind"], row["key"], row["status"]) == ("train", "run1", "ok")
    assert row["config"]["base_width"] == 8 and row["family"] == "tsn"
    assert row["settings"]["train"]["data"] == "synthetic:classes=4,samples=16,version=3"
    assert row["settings"]["metrics"] == ["flops", "params"]  # what its counts were made of
    assert row["result"]["train"]["benchmark"] == "synthetic-v3"
    assert row["result"]["params"] == record["params"]
    assert row["result"]["macs"] == record["macs"] > 0  # efficiency next to accuracy
    assert row["result"]["train"]["top1"] == record["top1"]
    assert row["env"]["device"] == "cpu" and row["env"]["precision"] == "fp32"


@pytest.mark.usefixtures("train_app")
def test_summary_then_rerun_without_resume_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _train([], tmp_path, capsys, monkeypatch)
    assert first.code == 0, first.err
    assert "top-1" in first.out and "time-reversed pairs" in first.out
    again = _train([], tmp_path, capsys, monkeypatch)
    assert again.code == 2 and "pass --resume" in again.err
    resumed = _train(["--resume", "--epochs", "2", "--json"], tmp_path, capsys, monkeypatch)
    assert resumed.code == 0, resumed.err
    assert len(json.loads(resumed.out)["history"]) == 2


@pytest.mark.usefixtures("train_app")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "imagenet"], "unknown kind 'imagenet'"),
        (["--epochs", "0"], "epochs=0 is out of range: must be between 1 and"),
        (["--precision", "fp8"], "precision='fp8' must be one of"),
        (["--set", "colour=1"], "tsn has no field 'colour'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = _train(args, tmp_path, capsys, monkeypatch)
    assert result.code == 2
    assert message in result.err and result.err.count("\n") == 1 and result.out == ""


@pytest.mark.usefixtures("train_app")
def test_divergence_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def diverge(*args: Any) -> None:
        raise loop.TrainingDiverged("training diverged: loss nan at epoch 1, step 1 (lr 0.01)")

    monkeypatch.setattr("blvprof.train.run.train_epoch", diverge)
    result = _train([], tmp_path, capsys, monkeypatch)
    assert result.code == 1
    assert result.err == "blvprof: training diverged: loss nan at epoch 1, step 1 (lr 0.01)\n"
