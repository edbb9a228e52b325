"""The SQLite results store: rows, resume keys, replacement of failed runs, pandas, export."""

import dataclasses
import json
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest

from blvprof import store as store_module
from blvprof.errors import UserError
from blvprof.store import Holder, Run, Store, check_store_path, flatten
from tests.cli.run import run as run_cli


def a_run(key: str, status: str = "ok", study: str = "s", **result) -> Run:
    return Run(study=study, key=key, kind="profile", model="tsn", family="tsn",
               config={"depth": 50, "num_frames": 8}, settings={"batch": 1},
               result={"macs": 5, "memory": {"max_batch": 3}, **result} if status == "ok" else None,
               env={"device": "cpu"}, status=status, error=None if status == "ok" else "boom")


def test_rows_round_trip_and_finished_keys(tmp_path) -> None:
    with Store(tmp_path / "r.db") as store:
        store.add(a_run("a"))
        store.add(a_run("b", status="error"))
        store.add(a_run("c", status="oom"))
        assert store.finished_keys("s") == {"a", "c"}  # an error is retried on rerun
        store.add(a_run("b"))  # the retry replaces the failed row
        rows = store.runs(study="s")
    assert [r["key"] for r in rows] == ["a", "c", "b"]
    assert rows[0]["result"]["memory"]["max_batch"] == 3
    assert rows[0]["config_hash"] == rows[2]["config_hash"]


def test_readable_by_pandas(tmp_path) -> None:
    with Store(tmp_path / "r.db") as store:
        store.add(a_run("a"))
    frame = pd.read_sql("SELECT * FROM runs", sqlite3.connect(tmp_path / "r.db"))
    assert json.loads(frame.loc[0, "result"])["macs"] == 5


def test_flatten_makes_dotted_columns() -> None:
    (row,) = flatten([{"result": {"memory": {"max_batch": 3}, "ops": {}}, "tags": [1, 2]}])
    assert row == {"result.memory.max_batch": 3, "result.ops": "{}", "tags": "[1,2]"}


def test_unwritable_location(tmp_path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="cannot open results store"):
        Store(tmp_path / "file" / "r.db")


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_formats(fmt, tmp_path, capsys, monkeypatch) -> None:
    db, out = tmp_path / "r.db", tmp_path / f"out.{fmt}"
    with Store(db) as store:
        store.add(a_run("a"))
        store.add(a_run("b", study="other"))
    result = run_cli(["export", "--db", str(db), "--format", fmt, "--out", str(out),
                      "--study", "s"], capsys, monkeypatch)
    assert result.code == 0, result.err
    if fmt == "csv":
        frame = pd.read_csv(out)
    elif fmt == "json":
        frame = pd.DataFrame(json.loads(out.read_text()))
    else:
        frame = pd.read_parquet(out)
    assert len(frame) == 1
    assert frame.loc[0, "result.memory.max_batch"] == 3  # one flat table in every format


def test_export_json_is_flat_records_with_every_column(tmp_path, capsys, monkeypatch) -> None:
    db = tmp_path / "r.db"
    with Store(db) as store:
        store.add(a_run("a", extra={"x": 1}))
        store.add(a_run("b", status="error"))
    result = run_cli(["export", "--db", str(db), "--format", "json"], capsys, monkeypatch)
    assert result.code == 0, result.err
    ok, failed = json.loads(result.out)
    assert ok["result.memory.max_batch"] == 3 and ok["result.extra.x"] == 1
    assert not any(isinstance(v, dict) for v in ok.values())
    assert set(failed) == set(ok) and failed["result.macs"] is None and failed["error"] == "boom"


def test_finished_keys_on_one_device(tmp_path) -> None:
    with Store(tmp_path / "r.db") as store:
        store.add(a_run("cpu"))
        store.add(dataclasses.replace(a_run("gpu"), env={"device": "cuda"}))
        assert store.finished_keys("s") == {"cpu", "gpu"}
        assert store.finished_keys("s", device="cpu") == {"cpu"}


def test_export_errors(tmp_path, capsys, monkeypatch) -> None:
    result = run_cli(["export", "--db", str(tmp_path / "none.db")], capsys, monkeypatch)
    assert result.code == 2 and "does not exist" in result.err
    result = run_cli(["export", "--db", str(tmp_path / "none.db"), "--format", "xls"],
                     capsys, monkeypatch)
    assert result.code == 2 and "--format 'xls'" in result.err


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid  # reaped: no process has this pid now (pids are not reused at once)


def test_claims_split_runs_and_a_stale_claim_is_taken_over(tmp_path) -> None:
    a = Holder.this_process()
    b = Holder("host-b:1:x", "another-host", 1)
    dead = Holder(f"{a.host}:dead:x", a.host, _dead_pid())
    with Store(tmp_path / "r.db") as store:
        assert store.claim("s", "k1", a) == "claimed"
        assert store.claim("s", "k1", a) == "claimed"  # its own claim: still its own
        assert store.claim("s", "k1", b) == "held"  # a live holder keeps it
        store.add(a_run("k1"))
        assert store.claim("s", "k1", b) == "finished"
        assert store.claim("s", "k2", dead) == "claimed"
        assert store.claim("s", "k2", a) == "claimed"  # its holder's process is gone: stale
        assert store.claim("s", "k3", b) == "claimed"  # on another host: only the lease counts
        assert store.claim("s", "k3", a) == "held"
        old = time.time() - store_module.LEASE_S - 1
        store._db.execute("UPDATE claims SET heartbeat = ? WHERE key = 'k3'", (old,))
        store._db.commit()
        assert store.claim("s", "k3", a) == "claimed"  # not renewed within the lease: stale
        store.release(a, "s", "k2")
        assert [key for _, key, _ in store.claims()] == ["k1", "k3"]
        store.release(a)
        assert store.claims() == []


def test_store_paths_are_checked_without_creating_anything(tmp_path) -> None:
    other = tmp_path / "notes.db"
    other.write_text("not sqlite")
    for path, reason in ((tmp_path, "is a folder"), (other, "is not a results store"),
                         (other / "r.db", "is not a folder")):
        with pytest.raises(UserError, match=reason):
            check_store_path(path)
    check_store_path(tmp_path / "new" / "r.db")  # can be made: fine, and nothing is made
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]
    with Store(tmp_path / "r.db"):
        pass
    check_store_path(tmp_path / "r.db")  # an existing store is fine
