"""The SQLite results store: rows, resume keys, replacement of failed runs, pandas, export."""

import json
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest

from blvprof import store as store_module
from blvprof.errors import UserError
from blvprof.records import Counter, Device, Flags, Precision, Request
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


def _schema_0_store(path) -> None:
    """A store as releases before the schema version wrote it: three shapes of settings."""
    db = sqlite3.connect(path)
    db.executescript(store_module.SCHEMA)
    rows = [  # a sweep's row, one stored before devices were resolved, and `blvprof train`'s
        ("study", "k1", "profile", {"metrics": ["flops"], "batch": 1, "device": "cpu",
                                    "budget_bytes": 2**30, "precision": "fp32", "warmup": 2,
                                    "steps": 5, "counter": "fvcore", "train": None}),
        ("study", "k2", "profile", {"metrics": ["params"], "batch": 2, "device": "auto"}),
        ("train", "run-1", "train", {"data": "synthetic", "epochs": 3, "seed": 7}),
    ]
    for study, key, kind, settings in rows:
        db.execute("INSERT INTO runs (study, key, kind, model, config_hash, config, settings, "
                   "env, status) VALUES (?, ?, ?, 'tsn', 'h', '{}', ?, ?, 'ok')",
                   (study, key, kind, json.dumps(settings),
                    json.dumps({"device": "cpu", "precision": "bf16"})))
    db.commit()
    db.close()


def test_a_store_of_schema_0_is_migrated_once_on_open(tmp_path) -> None:
    path = tmp_path / "old.db"
    _schema_0_store(path)
    with Store(path) as store:
        rows = {r["key"]: r for r in store.runs()}
        version = store._db.execute("PRAGMA user_version").fetchone()[0]
    assert version == store_module.SCHEMA_VERSION
    requests = {k: Request.from_row("tsn", {}, r["settings"]) for k, r in rows.items()}
    assert requests["k1"].budget_bytes == 2**30 and rows["k1"]["settings"]["train"] is None
    assert requests["k2"].device == Device.CPU and requests["k2"].batch == 2  # not 'auto'
    assert rows["run-1"]["settings"]["train"] == {"data": "synthetic", "epochs": 3, "seed": 7}
    assert requests["run-1"].flags == Flags(precision=Precision.BF16, seed=7)
    assert requests["run-1"].counter == Counter.FLOP_COUNTER
    assert {k: r["key"] for k, r in rows.items()} == {k: k for k in rows}  # keys kept
    db = sqlite3.connect(path)  # an edit after the migration survives the next open
    db.execute("UPDATE runs SET settings = '{\"batch\": 9}' WHERE key = 'k1'")
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.runs(study="study")[0]["settings"] == {"batch": 9}


def test_a_store_of_a_newer_schema_is_refused(tmp_path) -> None:
    path = tmp_path / "new.db"
    with Store(path) as store:
        store._db.execute(f"PRAGMA user_version = {store_module.SCHEMA_VERSION + 1}")
    with pytest.raises(UserError, match="written by a newer blvprof"):
        Store(path)


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


def _open_when_released(path, barrier, outcomes) -> None:
    barrier.wait()
    try:
        Store(path).close()
        outcomes.put("ok")
    except UserError as error:
        outcomes.put(str(error))


def test_processes_opening_a_new_store_at_once_all_open_it(tmp_path) -> None:
    # Switching a new file to WAL fails at once ("database is locked") while another process
    # is opening it; two sweeps started together over a new store met it (about 1 open in 30
    # failed in this test's loop before the switch waited).
    import multiprocessing

    context = multiprocessing.get_context("fork")  # only the store is used: no torch threads
    failures = []
    for attempt in range(20):
        barrier, outcomes = context.Barrier(6), context.Queue()
        path = tmp_path / f"r{attempt}.db"
        openers = [context.Process(target=_open_when_released, args=(path, barrier, outcomes))
                   for _ in range(6)]
        for opener in openers:
            opener.start()
        failures += [outcome for outcome in (outcomes.get(timeout=60) for _ in openers)
                     if outcome != "ok"]
        for opener in openers:
            opener.join()
    assert failures == []
