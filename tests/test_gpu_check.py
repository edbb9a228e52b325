"""benchmarks/gpu_check.sh --device cpu: the GPU check's steps at tiny sizes, so it cannot rot.

It runs in the normal suite (143 s on the 2-core EPYC on 2026-12-03; that machine's speed varies
about 3×): every step must pass and the report must hold every section, so that the first minutes
of a lent GPU are not spent on a broken script.
"""

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _gpu_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_runs_on_the_cpu(tmp_path: Path) -> None:
    out = tmp_path / "gpu-check"
    limit = sum(_gpu_check().CPU.timeouts.values())
    started = time.perf_counter()
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--device", "cpu", "--out", str(out)],
        capture_output=True, text=True, timeout=limit + 60,
        env={**__import__("os").environ, "PYTHON": sys.executable},
    )
    seconds = time.perf_counter() - started
    names = ("gate", "tam", "cli", "memory", "speed")
    steps = {s: json.loads((out / f"{s}.json").read_text()) for s in names
             if (out / f"{s}.json").exists()}  # after a failed gate, no other step runs
    statuses = {s: steps[s]["status"] if s in steps else "not run" for s in names}
    assert statuses == dict.fromkeys(names, "ok"), done.stderr
    assert done.returncode == 0, done.stderr
    runs = steps["cli"]["result"]["runs"]
    assert [r["status"] for r in runs] == ["ok"] * len(runs), runs
    text = (out / "gpu-check.md").read_text()
    for heading in ("## Steps", "## 1. TAM", "## 2. CLI", "## 3. Memory", "## 4. Training speed",
                    "## Environment"):
        assert heading in text
    for png in ("memory", "fig3b", "speed"):
        assert (out / f"gpu-check-{png}.png").stat().st_size > 0
    assert seconds < limit + 30  # the driver's own work is small beside the steps' timeouts


def test_a_cpu_check_never_writes_into_the_committed_reports() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--out",
         str(ROOT / "reports" / "gpu-cpu")],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0 and "outside reports/" in done.stderr
    assert not (ROOT / "reports" / "gpu-cpu").exists()


def test_a_step_that_ran_out_of_time_is_reported_with_the_rows_it_finished(tmp_path: Path) -> None:
    gpu_check = _gpu_check()
    estimate = {"train_peak_bytes": 40 << 20, "per_clip_bytes": 10 << 20, "max_batch": 5}
    rows = [{"model": "tsn", "reference": False, "frames": 4, "estimate": estimate}]
    results = [
        {"step": "gate", "status": "ok", "seconds": 1.0, "timeout_s": 60,
         "result": {"cpu": "test", "git_commit": "abc"}},
        {"step": "memory", "status": "timeout after 120 s", "seconds": 120.0, "timeout_s": 120,
         "result": {"rows": rows, "partial": True}, "error": "killed"},
        {"step": "cli", "status": "timeout after 300 s", "seconds": 300.0, "timeout_s": 300,
         "result": {"rows": [{"name": "profile-fp32", "status": "ok", "seconds": 9.0,
                              "command": "blvprof profile tsn"}], "partial": True}},
    ]
    path = gpu_check.render(results, tmp_path, "cpu", gpu_check.CPU, 121.0)
    text = path.read_text()
    memory = text.split("## 3. Memory")[1].split("## 4.")[0]
    assert "**Incomplete:**" in memory and "the configurations it finished (1)" in memory
    assert "64 MiB" in memory  # the budget comes from the sizes when the step saved none
    assert "timeout after 120 s" in text.split("## 1.")[0]
    cli = text.split("## 2. CLI")[1].split("## 3.")[0]
    assert "**Incomplete:**" in cli and "`blvprof profile tsn`" in cli
