"""Training studies end to end: the smoke study, resume, and bad data as one line with exit 2."""

from pathlib import Path

import pytest
from PIL import Image

from blvprof.store import Store
from tests.cli.run import run

SMOKE = Path(__file__).resolve().parents[2] / "studies" / "smoke.toml"


def test_smoke_study_trains_records_and_reruns_without_new_rows(tmp_path, capsys,
                                                                monkeypatch) -> None:
    db = tmp_path / "r.db"
    first = run(["ablate", str(SMOKE), "--db", str(db)], capsys, monkeypatch)
    assert first.code == 0, first.err
    with Store(db) as store:
        rows = store.runs(study="smoke")
    assert len(rows) == 2 and {r["status"] for r in rows} == {"ok"}
    for row in rows:
        train = row["result"]["train"]
        assert len(train["history"]) == 1 and 0 <= train["top1"] <= 1
        assert set(train["pair_accuracy"]) == {"move_left|move_right", "move_up|move_down"}
        assert row["result"]["macs"] > 0 and row["result"]["memory"]["method"] == "estimate"
        assert row["config"]["num_classes"] == 4 and row["config"]["image_size"] == 32
    again = run(["ablate", str(SMOKE), "--db", str(db)], capsys, monkeypatch)
    assert again.code == 0 and "0 ran, 2 reused" in again.err
    with Store(db) as store:
        assert len(store.runs()) == 2
    report = run(["report", "--db", str(db), "--out", str(tmp_path / "out")], capsys,
                 monkeypatch)
    assert report.code == 0 and (tmp_path / "out" / "ablation-smoke.md").exists()


def frame_root(tmp_path: Path, train_line: str, classes: int | None = None) -> Path:
    """A TSN-style frame folder with one 3-frame video and the given train.txt line."""
    root = tmp_path / "frames"
    (root / "v1").mkdir(parents=True)
    for i in range(1, 4):
        Image.new("RGB", (8, 8)).save(root / "v1" / f"{i:05d}.jpg")
    (root / "train.txt").write_text(train_line + "\n")
    (root / "val.txt").write_text("v1 1 3 0\n")
    if classes:
        (root / "classes.txt").write_text("".join(f"c{i}\n" for i in range(classes)))
    return root


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown", "unknown kind 'mp4'"),
        ("missing", "does not exist"),
        ("fields", "/frames/train.txt:1: expected 4 fields"),  # the file's path, not its name
        ("label", "label 5"),
    ],
)
@pytest.mark.parametrize("command", ["train", "ablate"])
def test_bad_data_is_one_line_and_exit_2(command, case, message, tmp_path, capsys,
                                         monkeypatch) -> None:
    data = {
        "unknown": "mp4:/data",
        "missing": f"frames:{tmp_path / 'nowhere'}",
        "fields": f"frames:{frame_root(tmp_path, 'v1 1 3')}" if case == "fields" else "",
        "label": f"frames:{frame_root(tmp_path, 'v1 1 3 5', classes=2)}"
        if case == "label" else "",
    }[case]
    args = [command, "tsn", "--data", data, "--depth", "26", "--frames", "2", "--size", "32",
            "--set", "base_width=8", "--epochs", "1", "--db", str(tmp_path / "r.db")]
    if command == "train":
        args += ["--out", str(tmp_path / "run")]
    result = run(args, capsys, monkeypatch)
    assert result.code == 2, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.err
    assert "train.train" not in lines[0] and "train.data spec" not in lines[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("grid = []", "[[grid]] must be one or more tables"),
        ("[[grid]]\nmodel = 'tsn'\nnum_frames = []", "empty list"),
        ("[[grid]]\nmodel = 'tsn'\nlayers = [3]", "tsn has no field 'layers'"),
        ("[[grid]]\nmodel = 'tsn'\n[train]\nepoch = 3", "train.epoch: unknown key"),
        ("[[grid]]\nmodel = 'tsn'\n[train]\nepochs = 'three'", "epochs='three' must be int"),
        ("[defaults]\nnum_frame = 16\n[[grid]]\nmodel = 'tsn'\n[train]\nepochs = 1",
         "defaults.num_frame: no model in the grid has this field"),
        ("[study]\ntitle = 'x'\n[[grid]]\nmodel = 'tsn'", "study.title: unknown key"),
    ],
)
def test_bad_study_is_one_line_and_exit_2(text, message, tmp_path, capsys, monkeypatch) -> None:
    study = tmp_path / "bad.toml"
    study.write_text(text)
    result = run(["ablate", str(study), "--db", str(tmp_path / "r.db")], capsys, monkeypatch)
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(study) in lines[0], result.err


def test_inline_ablation_with_seeds_trains_once_per_seed(tmp_path, capsys, monkeypatch) -> None:
    db = tmp_path / "r.db"
    args = ["ablate", "tsn", "--depth", "26", "--frames", "4", "--set", "base_width=8",
            "--data", "synthetic:classes=4,samples=8", "--epochs", "1", "--batch", "4",
            "--size", "32", "--seeds", "3,4", "--name", "seeds", "--db", str(db)]
    result = run(args, capsys, monkeypatch)
    assert result.code == 0, result.err
    with Store(db) as store:
        rows = store.runs(study="seeds")
    assert sorted(r["result"]["train"]["seed"] for r in rows) == [3, 4]
    assert "seed = [3, 4]" in (tmp_path / "seeds.toml").read_text()
    report = run(["report", "--db", str(db), "--out", str(tmp_path / "out")], capsys,
                 monkeypatch)
    text = (tmp_path / "out" / "ablation-seeds.md").read_text()
    assert report.code == 0 and "| model | seed | top-1 |" in text and "| TSN-R26 | 4 |" in text
    bad = run([*args[:-4], "--seeds", "-1", "--db", str(db)], capsys, monkeypatch)
    assert bad.code == 2 and "--seeds" in bad.err
