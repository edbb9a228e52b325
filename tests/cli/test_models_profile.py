"""`blvprof models`, `profile` and `compare` through the real entry point."""

import json

import pytest
from typer.testing import CliRunner

from blvprof.cli import app
from blvprof.store import Store
from tests.cli.run import run

TINY = ["--depth", "26", "--frames", "4", "--size", "64", "--classes", "5",
        "--set", "base_width=8"]


def test_models_lists_families_and_fields() -> None:
    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 0
    listing = {m["name"]: m for m in json.loads(result.stdout)}
    assert {"blvnet_tam", "tsn", "tam_resnet", "tsm", "i3d", "blvnet"} <= set(listing)
    fields = {f["name"]: f for f in listing["blvnet_tam"]["fields"]}
    assert fields["alpha"]["default"] == 2 and fields["num_frames"]["default"] == 16


def test_models_table_shows_one_model() -> None:
    result = CliRunner().invoke(app, ["models", "tsm"])
    assert result.exit_code == 0 and "shift_div" in result.stdout


def test_profile_json_has_the_flops_contract(capsys, monkeypatch, tmp_path) -> None:
    db = tmp_path / "r.db"
    result = run(["profile", "blvnet_tam", *TINY, "--beta", "2", "--metrics", "flops,params",
                  "--json", "--db", str(db)], capsys, monkeypatch)
    assert result.code == 0, result.err
    record = json.loads(result.out)  # nothing but the document on stdout
    for key in ("model", "config", "input_shape", "params", "macs", "fvcore_macs",
                "train_flops", "unsupported_ops", "env"):
        assert key in record
    assert record["input_shape"] == [1, 3, 4, 64, 64]
    assert record["config"]["base_width"] == 8 and record["config"]["beta"] == 2
    assert record["fvcore_macs"] >= record["macs"] > 0
    assert record["flop_counter"]["forward_equals_2x_macs"]
    assert "memory" not in record and "speed" not in record
    with Store(db) as store:
        (row,) = store.runs()
    assert row["result"]["macs"] == record["macs"] and row["status"] == "ok"


def test_profile_table_output(capsys, monkeypatch, tmp_path) -> None:
    result = run(["profile", "tsn", *TINY, "--metrics", "flops,params", "--db",
                  str(tmp_path / "r.db")], capsys, monkeypatch)
    assert result.code == 0 and "GMACs / clip" in result.out
    assert "MACs by module" not in result.out


def test_profile_table_shows_macs_by_module(capsys, monkeypatch, tmp_path) -> None:
    result = run(["profile", "tsn", *TINY, "--metrics", "flops", "--by-module", "1", "--db",
                  str(tmp_path / "r.db")], capsys, monkeypatch)
    assert result.code == 0, result.err
    assert "MACs by module" in result.out and "(model)" in result.out
    assert "100.0%" in result.out  # the whole model's row is the whole clip


def test_compare_takes_the_speed_flags_of_profile(capsys, monkeypatch, tmp_path) -> None:
    result = run(["compare", "tsn", *TINY, "--metrics", "params",
                  "--channels-last", "--compile", "--cudnn-benchmark", "--seed", "7",
                  "--precision", "bf16", "--json", "--db", str(tmp_path / "r.db")],
                 capsys, monkeypatch)
    assert result.code == 0, result.err
    (record,) = json.loads(result.out)["records"]
    env = record["env"]
    assert (env["channels_last"], env["compiled"], env["cudnn_benchmark"]) == (True, True, True)
    assert (env["seed"], env["precision"]) == (7, "bf16")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["profile", "nope"], "unknown model 'nope'"),
        (["profile", "tsn", "--frames", "0"], "num_frames=0"),
        (["profile", "tsn", "--batch", "0"], "batch=0"),
        (["profile", "tsn", "--depth", "34"], "depth=34"),
        (["profile", "blvnet_tam", "--frames", "15"], "num_frames=15"),
        (["profile", "blvnet_tam", "--alpha", "3"], "alpha=3 does not divide 64"),
        (["profile", "blvnet_tam", "--beta", "9"], "beta=9"),
        (["profile", "blvnet_tam", "--blending", "4"], "blending_frames=4"),
        (["profile", "tsn", "--set", "alpha=2"], "tsn has no field 'alpha'"),
        (["profile", "tsn", "--set", "dropout=lots"], "--set dropout=lots: expected float"),
        (["profile", "tsn", "--set", "nonsense"], "--set expects FIELD=VALUE"),
        (["profile", "tsn", "--metrics", "flops,watts"], "unknown metric 'watts'"),
        (["profile", "tsn", "--metrics", ""], "--metrics '' names no metric"),
        (["compare", "tsn", "--metrics", " , "], "names no metric"),
        (["profile", "tsn", "--memory-budget", "lots"], "--memory-budget"),
        (["profile", "tsn", "--precision", "fp8"], "--precision"),
        (["profile", "tsn", "--bogus"], "No such option"),
        (["compare", "tsn", "--frames", "8,x"], "--frames must be a comma list"),
        (["profile", "tsn", "--json", "--frames", "-1"], "num_frames=-1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, capsys, monkeypatch, tmp_path) -> None:
    result = run([*args, "--db", str(tmp_path / "r.db")], capsys, monkeypatch)
    assert result.code == 2
    assert result.out == ""  # errors never reach stdout, even under --json
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.err


def test_cuda_without_gpu_is_refused(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    result = run(["profile", "tsn", "--device", "cuda", "--db", str(tmp_path / "r.db")],
                 capsys, monkeypatch)
    assert result.code == 2 and "no CUDA GPU" in result.err


def test_unwritable_db_is_refused(capsys, monkeypatch, tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run(["profile", "tsn", *TINY, "--metrics", "params", "--db",
                  str(blocker / "r.db")], capsys, monkeypatch)
    assert result.code == 2 and "cannot open results store" in result.err


def test_compare_names_an_invalid_grid_point(capsys, monkeypatch, tmp_path) -> None:
    # depth 26 has two blocks per stage, so bLVNet's default beta=4 does not fit it
    result = run(["compare", "tsn", "blvnet_tam", "--frames", "4", "--depth", "26", "--size",
                  "64", "--metrics", "params", "--json", "--db", str(tmp_path / "r.db")],
                 capsys, monkeypatch)
    assert result.code == 2 and "beta=4" in result.err and result.out == ""


def test_compare_json_and_csv(capsys, monkeypatch, tmp_path) -> None:
    common = ["--frames", "4,8", "--size", "64", "--set", "base_width=8", "--metrics",
              "flops,params", "--db", str(tmp_path / "r.db")]
    result = run(["compare", "tsn", "tam_resnet", *common, "--json"], capsys, monkeypatch)
    assert result.code == 0, result.err
    rows = json.loads(result.out)["rows"]
    assert [(r["model"], r["frames"]) for r in rows] == [
        ("tsn", 4), ("tam_resnet", 4), ("tsn", 8), ("tam_resnet", 8)]
    assert rows[0]["gmacs_ratio"] == 1.0
    assert rows[1]["gmacs_ratio"] == pytest.approx(rows[1]["gmacs"] / rows[0]["gmacs"])
    assert rows[1]["gmacs_ratio"] > 1  # TAM adds a little
    result = run(["compare", "tsn", "tam_resnet", *common, "--csv"], capsys, monkeypatch)
    header, *lines = result.out.strip().splitlines()
    assert header.startswith("model,depth,frames,gmacs") and len(lines) == 4
