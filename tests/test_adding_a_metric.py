"""Adding a metric is a change to its measurement, its record field and one renderer.

The test makes exactly the change docs/howto.md describes, for a toy metric (a model's leaf
modules), in a copy of the package, and finds the metric in `blvprof profile --json`, in the
profile table and in the study report rendered from the store: nothing else needed editing.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# 1. Its measurement: a pure function in blvprof/measure/, and its entry in profile.MEASUREMENTS
MEASUREMENT = '''"""Leaf modules of a model (a toy metric)."""

from torch import nn


def count_leaf_modules(model: nn.Module) -> int:
    return sum(1 for module in model.modules() if not any(module.children()))
'''
ADAPTER = '''def _layers(m: Measuring, _: dict[str, Any]) -> dict[str, Any]:
    from torch._subclasses.fake_tensor import FakeTensorMode

    from blvprof.measure.layers import count_leaf_modules
    from blvprof.records import Layers

    with FakeTensorMode():
        return {"layers": Layers(count_leaf_modules(m.build()))}


MEASUREMENTS: dict[Metric, Measurement] = {'''
# 2. Its record field: a Metric member, its record, and the Profile field that holds it
RECORD = '''@dataclass(frozen=True)
class Layers:
    leaf_modules: int

    def to_row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Self:
        return cls(**row)


@dataclass(frozen=True)
class Profile:'''
TRAIN_FIELD = "    train: Training | None = field(default=None, metadata={RECORD: Training})\n"
LAYERS_FIELD = "    layers: Layers | None = field(default=None, metadata={RECORD: Layers})\n"
# 3. One renderer: its column
LAST_COLUMN = '''           lambda p: p.speed and p.speed.train_clips_per_s, True),
'''
COLUMN = '''    Column("leaf_modules", "leaf modules", "{}",
           lambda p: p.layers and p.layers.leaf_modules),
'''
EDITS = {
    "blvprof/profile.py": [
        ("    Metric.SPEED: _speed,\n", "    Metric.SPEED: _speed,\n    Metric.LAYERS: _layers,\n"),
        ("MEASUREMENTS: dict[Metric, Measurement] = {", ADAPTER),
    ],
    "blvprof/records.py": [
        ('    SPEED = "speed"  # Speed\n', '    SPEED = "speed"  # Speed\n    LAYERS = "layers"\n'),
        ("@dataclass(frozen=True)\nclass Profile:", RECORD),
        (TRAIN_FIELD, TRAIN_FIELD + LAYERS_FIELD),
    ],
    "blvprof/report/summary.py": [(LAST_COLUMN, LAST_COLUMN + COLUMN)],
}
TINY = ["--depth", "26", "--frames", "2", "--size", "32", "--set", "base_width=8"]


def _edited_copy(root: Path) -> None:
    for package in ("blvprof", "model"):
        shutil.copytree(ROOT / package, root / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    (root / "blvprof" / "measure" / "layers.py").write_text(MEASUREMENT)
    for name, edits in EDITS.items():
        path = root / name
        text = path.read_text()
        for old, new in edits:
            assert text.count(old) == 1, f"{name}: the recipe's anchor moved: {old!r}"
            text = text.replace(old, new)
        path.write_text(text)


def _blvprof(root: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-m", "blvprof", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_toy_metric_needs_its_measurement_its_record_field_and_one_column(tmp_path) -> None:
    root, db = tmp_path / "copy", tmp_path / "r.db"
    _edited_copy(root)
    record = json.loads(_blvprof(root, "profile", "tsn", *TINY, "--metrics", "params,layers",
                                 "--json", "--db", str(db)))
    leaves = record["layers"]["leaf_modules"]
    assert leaves > 10 and "memory" not in record  # TSN-R26: dozens of convs, BNs, ReLUs
    table = _blvprof(root, "profile", "tsn", *TINY, "--metrics", "layers", "--db", str(db))
    assert "leaf modules" in table and str(leaves) in table
    _blvprof(root, "report", "--db", str(db), "--out", str(tmp_path / "reports"))
    report = (tmp_path / "reports" / "profile.md").read_text()
    header = next(line for line in report.splitlines() if line.startswith("| model"))
    assert "leaf modules" in header and f"| {leaves} |" in report
