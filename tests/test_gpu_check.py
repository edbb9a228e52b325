"""benchmarks/gpu_check.sh --device cpu: the GPU check's steps at tiny sizes, so it cannot rot.

It runs in the normal suite (about 2–3 minutes on a 2-core CPU): every step must pass and the
report must hold every section, so that the first minutes of a lent GPU are not spent on a broken
script.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_runs_on_the_cpu(tmp_path: Path) -> None:
    out = tmp_path / "gpu-check"
    started = time.perf_counter()
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--device", "cpu", "--out", str(out)],
        capture_output=True, text=True, timeout=240,
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
    assert seconds < 200  # its timeouts sum to under 3 minutes


def test_a_cpu_check_never_writes_into_the_committed_reports() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--out",
         str(ROOT / "reports" / "gpu-cpu")],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0 and "outside reports/" in done.stderr
    assert not (ROOT / "reports" / "gpu-cpu").exists()
