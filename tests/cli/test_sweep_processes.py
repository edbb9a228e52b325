"""Sweeps as real processes (#14): two over one store split the runs; a killed driver leaves no
worker behind; Ctrl-C says what was kept and how to resume."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from blvprof.store import Holder, Store

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

# six untimed points (MACs and parameters only: milliseconds each) for the concurrency test
SIX = """
[measure]
metrics = ["flops", "params"]
counter = "flop_counter"
[[grid]]
model = "tsn"
depth = 26
base_width = 8
image_size = 64
num_frames = [1, 2, 3, 4, 5, 6]
[resources]
workers = 1
"""
# two quick points, then one timed point that runs for minutes: a sweep to interrupt or kill
LONG = """
[measure]
metrics = ["flops", "params"]
counter = "flop_counter"
[[grid]]
model = "tsn"
depth = 26
base_width = 8
image_size = 64
num_frames = [2, 4]
[speed]
size = 64
batch = 1
warmup = 0
steps = 100000
[[speed.grid]]
model = "tsn"
depth = 26
base_width = 8
num_frames = 2
"""


def blvprof(args: list[str], cwd: Path, **options) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    # Ctrl-C as in a terminal: a test run in the background of a non-interactive shell inherits
    # SIGINT ignored, and Python (rightly) leaves an inherited ignore alone.
    return subprocess.Popen([sys.executable, "-m", "blvprof", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint, **options)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def descendants(pid: int) -> set[int]:
    """Live (not zombie) processes below ``pid``, read from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, frontier = set(), [pid]
    while frontier:
        children = parents.get(frontier.pop(), [])
        found.update(children)
        frontier.extend(children)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def claimed(db: Path) -> bool:
    with Store(db) as store:
        return bool(store.claims())


class Lines:
    """Collects a process's stderr lines in a thread, so the test can wait for one."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(re.search(pattern, line) for line in self.lines):
            assert time.monotonic() < deadline, self.lines
            time.sleep(0.1)

    def finish(self) -> list[str]:
        self._thread.join(timeout=30)
        return self.lines


def test_two_sweeps_over_one_store_run_each_point_once(tmp_path) -> None:
    (tmp_path / "six.toml").write_text(SIX)
    sweeps = [blvprof(["ablate", "six.toml", "--db", "r.db"], tmp_path) for _ in range(2)]
    results = [sweep.communicate(timeout=300) for sweep in sweeps]
    assert [sweep.returncode for sweep in sweeps] == [0, 0], results
    ran = [int(re.search(r"(\d+) ran, (\d+) reused", err).group(1)) for _, err in results]
    assert sum(ran) == 6, results
    with Store(tmp_path / "r.db") as store:
        rows = store.runs()
        assert len(rows) == 6 and all(r["status"] == "ok" for r in rows)
        assert store.claims() == []  # released as each run was recorded
    with sqlite3.connect(tmp_path / "r.db") as db:  # six inserts, no row replaced by the other
        assert db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'runs'").fetchone() == (6,)


def test_killing_the_driver_leaves_no_worker_behind(tmp_path) -> None:
    (tmp_path / "long.toml").write_text(LONG)
    driver = blvprof(["ablate", "long.toml", "--db", "r.db"], tmp_path)
    lines = Lines(driver)
    try:
        lines.wait_for(r"^\[2/3\]")  # the quick runs are done; the timed one is starting
        deadline = time.monotonic() + 60
        while not claimed(tmp_path / "r.db") and time.monotonic() < deadline:
            time.sleep(0.1)  # the timed run is claimed just before its worker gets it
        while not descendants(driver.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # let the timed run's worker get going
        left = descendants(driver.pid)
        assert left, "the sweep started no worker"
    finally:
        driver.kill()  # kill -9: the driver runs no cleanup at all
        driver.wait()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in left) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in left if alive(pid)], lines.lines
    with Store(tmp_path / "r.db") as store:  # the dead driver's claim is stale: taken over
        ((study, key, holder),) = store.claims()
        assert f":{driver.pid}:" in holder
        assert store.claim(study, key, Holder.this_process()) == "claimed"


def test_ctrl_c_says_what_was_kept_and_how_to_resume(tmp_path) -> None:
    (tmp_path / "long.toml").write_text(LONG)
    driver = blvprof(["ablate", "long.toml", "--db", "r.db"], tmp_path, start_new_session=True)
    lines = Lines(driver)
    try:
        lines.wait_for(r"^\[2/3\]")
        time.sleep(1)
        workers = descendants(driver.pid)
        os.killpg(driver.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: the whole group
        assert driver.wait(timeout=60) == 130
    finally:
        if driver.poll() is None:
            driver.kill()
    err = lines.finish()
    assert err[-1] == ("blvprof: interrupted: 2 of 3 runs kept in r.db; resume with: "
                       "blvprof ablate long.toml --db r.db"), err
    assert not any("Traceback" in line or "KeyboardInterrupt" in line for line in err), err
    time.sleep(1)
    assert not [pid for pid in workers if alive(pid)]
    with Store(tmp_path / "r.db") as store:
        assert len(store.runs()) == 2 and store.claims() == []
