"""Sweeps: resume without duplicates, failures recorded, SIGKILL mid-sweep, Ray."""

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from blvprof.errors import UserError
from blvprof.measure.env import machine
from blvprof.store import Store, digest
from blvprof.study import load_study
from blvprof.sweep import Target, plan, resolve_target, run_key, run_tasks

TINY_STUDY = """
[study]
name = "tiny"
[measure]
metrics = ["flops", "params", "memory"]
counter = "flop_counter"
[defaults]
depth = 26
base_width = 8
image_size = 64
num_classes = 5
[[grid]]
model = ["tsn", "tsm"]
num_frames = [2, 4]
"""


def tiny_study(tmp_path: Path, text: str = TINY_STUDY) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    return path


def test_rerun_reuses_every_finished_run(tmp_path) -> None:
    study = load_study(tiny_study(tmp_path))
    with Store(tmp_path / "r.db") as store:
        first = run_tasks(plan(study), store, workers=2)
        again = run_tasks(plan(study), store, workers=2)
        rows = store.runs(study="tiny")
    assert (first.ok, first.failed, first.skipped) == (4, 0, 0)
    assert (again.ok, again.skipped) == (0, 4)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}
    assert all(r["result"]["memory"]["method"] == "estimate" for r in rows)


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # the spawned workers see no GPU
    text = TINY_STUDY.replace("[measure]", '[measure]\ndevice = "cuda"')
    study = load_study(tiny_study(tmp_path, text))
    with Store(tmp_path / "r.db") as store:
        summary = run_tasks(plan(study), store)
        rows = store.runs(study="tiny")
    assert summary.failed == 4 and len(rows) == 4
    assert all(r["status"] == "error" and "no CUDA GPU" in r["error"] for r in rows)


def test_cpu_and_cuda_runs_never_share_a_key(tmp_path) -> None:
    study = load_study(tiny_study(tmp_path))
    cpu = plan(study, target=Target("cpu"))
    h200 = plan(study, target=Target("cuda", "NVIDIA H200"))
    a100 = plan(study, target=Target("cuda", "NVIDIA A100-SXM4-80GB"))
    assert [t.request.device for t in cpu + h200] == ["cpu"] * 4 + ["cuda"] * 4
    assert not {t.key for t in cpu} & {t.key for t in h200}
    assert not {t.key for t in h200} & {t.key for t in a100}
    # a CPU key is the one an explicit --device cpu always had, so such stores stay reusable,
    # and a memory estimate's also names how its largest batch is found (made again once)
    (first, *_) = cpu
    written = {"metrics": ["flops", "params", "memory"], "batch": 1, "device": "cpu",
               "budget_bytes": 16 * 2**30, "precision": "fp32", "warmup": 2, "steps": 5,
               "counter": "flop_counter"}  # as earlier releases wrote a request into the key
    earlier = {"kind": "profile", "model": first.model, "overrides": first.overrides,
               "request": written, "train": None}
    assert first.key == digest({**earlier, "max_batch": "estimate_timeline"})
    counts = dataclasses.replace(first.request, metrics=("flops", "params"))
    assert run_key(counts, None, Target("cpu")) == digest(
        {**earlier, "request": {**written, "metrics": ["flops", "params"]}})


def test_auto_resolves_on_the_driver_to_this_gpu(monkeypatch) -> None:
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("torch.cuda.get_device_name", lambda *_: "Fake GPU")
    assert resolve_target("auto") == Target("cuda", "Fake GPU")
    assert resolve_target("auto", "ray") == Target("cuda", "Fake GPU")  # a local Ray
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert resolve_target("auto") == Target("cpu", cpu=machine()["cpu"])
    with pytest.raises(UserError, match="no CUDA GPU"):
        resolve_target("cuda")


SPEED = """
[speed]
size = 64
quick_size = 32
[[speed.grid]]
model = "tsn"
num_frames = 2
"""


def test_timed_cpu_runs_are_keyed_by_the_cpu_model_counts_are_not(tmp_path) -> None:
    """Speed rows of two machines are never reused across them; count rows stay reusable."""
    study = load_study(tiny_study(tmp_path, TINY_STUDY + SPEED))
    epyc, xeon, unnamed = (plan(study, target=Target("cpu", cpu=cpu))
                           for cpu in ("AMD EPYC 7R13", "Intel Xeon Platinum 8375C", None))
    timed = [i for i, t in enumerate(epyc) if "speed" in t.request.metrics]
    assert len(timed) == 1 and len(epyc) == 5
    for i, (a, b, old) in enumerate(zip(epyc, xeon, unnamed, strict=True)):
        if i in timed:
            assert len({a.key, b.key, old.key}) == 3
        else:  # the key a count always had: stores made on another CPU stay reusable
            assert a.key == b.key == old.key


def test_a_remote_ray_cluster_needs_an_explicit_device() -> None:
    with pytest.raises(UserError, match="--address needs --device cpu or cuda"):
        resolve_target("auto", "ray", "ray://head:10001")
    assert resolve_target("cuda", "ray", "ray://head:10001") == Target("cuda")


def _finished(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as connection:
        try:
            return connection.execute("SELECT COUNT(*) FROM runs WHERE status='ok'").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def test_sigkill_mid_sweep_then_resume_keeps_every_run_once(tmp_path) -> None:
    text = TINY_STUDY.replace("num_frames = [2, 4]", "num_frames = [2, 4, 6, 8]")
    study_path, db = tiny_study(tmp_path, text), tmp_path / "r.db"
    command = [sys.executable, "-m", "blvprof", "ablate", str(study_path), "--db", str(db),
               "--workers", "1"]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _finished(db) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the driver and its worker, mid-sweep
    process.wait()
    killed_at = _finished(db)
    assert 2 <= killed_at < 8, "the sweep should have been killed part-way"
    subprocess.run(command, check=True, capture_output=True)
    with Store(db) as store:
        rows = store.runs(study="tiny")
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)) == 8
    assert all(r["status"] == "ok" for r in rows)


def test_two_runs_on_a_local_ray(tmp_path) -> None:
    text = TINY_STUDY.replace('model = ["tsn", "tsm"]', 'model = "tsn"')
    study = load_study(tiny_study(tmp_path, text))
    with Store(tmp_path / "r.db") as store:
        summary = run_tasks(plan(study), store, executor="ray", cpus=1)
        rows = store.runs(study="tiny")
    assert (summary.ok, summary.failed) == (2, 0)
    assert sorted(r["config"]["num_frames"] for r in rows) == [2, 4]
