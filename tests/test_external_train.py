"""Training model references: the record, the checkpoint, resume (not from an edited file), how
classes and frames reach the callable, bad input before anything trains, and a training study
that mixes a zoo family with a reference."""

from pathlib import Path
from typing import Any

import pytest
import torch

from blvprof import external
from blvprof.errors import UserError
from blvprof.report.study_report import render_study
from blvprof.store import Store
from blvprof.study import load_study
from blvprof.sweep import plan, run_tasks
from blvprof.train import TrainSpec, train_model
from blvprof.train.checkpoint import CHECKPOINT_FILE
from blvprof.train.trained_model import clip_frames, trained_model
from tests.external_nets import write_nets
from tests.train.common import losses, straight_stopped_resumed

DATA = "synthetic:classes=4,samples=40"
TSN2D = {"input_shape": (3, 4, 32, 32), "layout": "frames-in-batch"}


@pytest.fixture
def nets(tmp_path: Path) -> Path:
    return write_nets(tmp_path)


@pytest.fixture(autouse=True)
def one_thread() -> Any:
    """A tiny net gains nothing from a second thread on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _spec(**changes: Any) -> TrainSpec:
    return TrainSpec(**{"data": DATA, "epochs": 1, "batch": 8, "size": 32,
                        "max_train_batches": 2, **changes})


def test_a_reference_trains_as_a_zoo_model_does(nets, tmp_path) -> None:
    record = train_model(f"{nets}:TSN2D", TSN2D, _spec(), device="cpu", out_dir=tmp_path / "o")
    assert (record["model"], record["family"]) == (f"{nets}:TSN2D", "external")
    config = record["config"]
    # the data's classes reach its num_classes argument; the clip's T its num_frames
    assert config["arguments"] == {"num_classes": 4, "num_frames": 4}
    assert config["layout"] == record["layout"] == "frames-in-batch"
    assert config["clip"] == [3, 4, 32, 32] and config["source"] == external.source_digest(
        f"{nets}:TSN2D")
    assert record["input_shape"] == [8, 3, 4, 32, 32]  # one step's clips
    assert record["model_input_shape"] == [32, 3, 32, 32]  # as the model takes them
    assert record["macs"] == 32 * 32 * 4 * 8 * 3 * 9 + 8 * 4  # per clip, the conv and the fc
    assert record["params"] == 8 * 3 * 9 + 8 + 8 * 4 + 4
    assert 0 <= record["top1"] <= record["top5"] <= 1
    assert set(record["pair_accuracy"]) == {"move_left|move_right", "move_up|move_down"}
    assert record["pair_identity_mean"] is not None and record["num_classes"] == 4
    saved = torch.load(tmp_path / "o" / CHECKPOINT_FILE, weights_only=True)
    assert saved["model"] == f"{nets}:TSN2D" and saved["config"] == config
    # the module's own weights, no adapter around them: they load into what the callable builds
    net = external.load_callable(f"{nets}:TSN2D")(num_frames=4, num_classes=4)
    net.load_state_dict(saved["state_dict"])


def test_an_interrupted_reference_run_resumes_where_it_stopped(nets, tmp_path,
                                                               monkeypatch) -> None:
    straight, stopped, resumed = straight_stopped_resumed(
        f"{nets}:TSN2D", TSN2D, _spec(epochs=2), tmp_path, monkeypatch
    )
    assert len(stopped["history"]) == 1
    assert resumed["resumed_from_epoch"] == 1 and losses(resumed) == losses(straight)


def test_a_checkpoint_of_an_edited_model_file_is_not_resumed(nets, tmp_path) -> None:
    train_model(f"{nets}:Net3D", {"input_shape": (3, 2, 32, 32)}, _spec(), device="cpu",
                out_dir=tmp_path)
    source = nets.read_text()
    nets.write_text(source + "\n# edited\n")
    with pytest.raises(UserError, match=r"trained from another version of .*source file"):
        train_model(f"{nets}:Net3D", {"input_shape": (3, 2, 32, 32)}, _spec(epochs=2),
                    device="cpu", out_dir=tmp_path, resume=True)
    nets.write_text(source)
    with pytest.raises(UserError, match=r"differs in model or config \(arguments\)"):
        train_model(f"{nets}:Net3D", {"input_shape": (3, 2, 32, 32), "width": 4},
                    _spec(epochs=2), device="cpu", out_dir=tmp_path, resume=True)


def test_frames_come_from_the_clip_the_argument_or_the_declared_input(nets) -> None:
    assert clip_frames(f"{nets}:Net3D", {"input_shape": "3x6x32x32"}) == 6
    assert clip_frames(f"{nets}:TSN2D", {"num_frames": 3}) == 3
    assert clip_frames(f"{nets}:tiny_tsn", {}) == 4  # its num_frames default
    declared = trained_model(f"{nets}:declared_tsn", {}, 32, 4)
    # its input_spec gives T and its layout; the run gives the side and the classes
    assert (declared.clip, declared.layout) == ((3, 6, 32, 32), "frames-in-batch")
    assert declared.config["arguments"] == {"num_classes": 4}
    with pytest.raises(UserError, match="declares no input_spec: give the frames per clip"):
        clip_frames(f"{nets}:Net3D", {})


@pytest.mark.parametrize(
    ("reference", "overrides", "message"),
    [
        ("net3d", {"input_shape": (3, 4, 32, 32)},
         r"net3d\(\) returns 5 classes but the data has 4: give the callable a num_classes"),
        ("Net3D", {"input_shape": (3, 4, 32, 32), "num_classes": 3},
         "num_classes=3 conflicts with the data, which gives 4"),
        ("Net3D", {"input_shape": (3, 4, 32, 32), "layout": "frames-in-batch"},
         r"rejected an input of shape \(8, 3, 32, 32\) \(layout frames-in-batch"),
        ("per_frame_logits", {"input_shape": (3, 4, 32, 32), "layout": "frames-in-batch"},
         r"returned \(8, 4\) for an input of shape \(8, 3, 32, 32\)"),
        ("Net3D", {"input_shape": (3, 4, 64, 64)},
         "input shape 3,4,64,64 conflicts with the run's clips 3,4,32,32"),
        ("Net3D", {"input_shape": (1, 4, 32, 32)}, "conflicts with the run's clips 3,4,32,32"),
    ],
)
def test_bad_input_fails_before_anything_is_written(nets, tmp_path, reference, overrides,
                                                    message) -> None:
    with pytest.raises(UserError, match=message) as caught:
        train_model(f"{nets}:{reference}", overrides, _spec(), device="cpu",
                    out_dir=tmp_path / "o")
    assert "\n" not in str(caught.value) and not (tmp_path / "o").exists()


STUDY = """
[study]
name = "trained-mixed"
[measure]
metrics = ["flops", "params"]
counter = "flop_counter"
device = "cpu"
[[grid]]
model = "tsn"
depth = 26
base_width = 8
num_frames = 2
dropout = 0.0
[[grid]]
model = "{nets}:TSN2D"
input_shape = "3,2,32,32"
layout = "frames-in-batch"
width = [4, 8]
[train]
data = "{data}"
size = 32
epochs = 1
batch = 8
max_train_batches = 1
max_val_batches = 1
seed = [0]
"""


def test_a_training_study_mixing_the_zoo_and_a_reference_runs_resumes_and_reports(
        nets, tmp_path) -> None:
    path = tmp_path / "study.toml"
    path.write_text(STUDY.format(nets=nets, data=DATA))
    with Store(tmp_path / "r.db") as store:
        first = run_tasks(plan(load_study(path)), store, workers=2)
        again = run_tasks(plan(load_study(path)), store)
        rows = store.runs(study="trained-mixed")
    assert (first.ok, first.failed, again.skipped, again.ok) == (3, 0, 3, 0), rows
    references = [r for r in rows if r["family"] == "external"]
    assert sorted(r["config"]["arguments"]["width"] for r in references) == [4, 8]
    for row in references:
        trained = row["result"]["train"]
        assert trained["layout"] == row["result"]["layout"] == "frames-in-batch"
        assert row["config"]["arguments"]["num_classes"] == trained["num_classes"] == 4
        # its cost is that of the model trained: the data's classes, the trained clip
        assert row["result"]["macs"] == trained["macs"] > 0
        assert row["result"]["input_shape"] == [1, 3, 2, 32, 32]
    report = render_study(rows, tmp_path / "out", "trained-mixed", "blvprof report").read_text()
    label = f"{nets}:TSN2D(num_classes=4, num_frames=2, width=4)"
    assert f"| {label} | 0.00 | 1 |" in report
    assert "| TSN-R26 |" in report and "every run finished" in report
    # "learned" is judged against the data's classes (2 pairs: pair identity of at least 75 %)
    identity = next(r for r in references if r["config"]["arguments"]["width"] == 4)[
        "result"]["train"]["pair_identity_mean"]
    verdicts = [line.rsplit("|", 2)[1].strip() for line in report.splitlines()
                if line.startswith(f"| {label} |") and line.endswith(("| yes |", "| no |"))]
    assert verdicts == ["yes" if identity >= 0.75 else "no"]


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ('model = "{nets}:net3d"\ninput_shape = "3,2,32,32"',
         r"\[train\]: training {nets}:net3d on synthetic:classes=4,samples=40,version=3 at size "
         r"32: {nets}:net3d\(\) returns 5 classes but the data has 4"),
        ('model = "{nets}:Net3D"\ninput_shape = "3,2,32,32"\nlayout = "ntchw"',
         r"rejected an input of shape \(2, 2, 3, 32, 32\) \(layout ntchw"),
        ('model = "{nets}:Net3D"', "declares no input_spec: give the frames per clip"),
    ],
)
def test_a_training_study_refuses_a_reference_that_cannot_train_when_loaded(
        nets, tmp_path, grid, message) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[[grid]]\n" + grid.format(nets=nets)
                    + f'\n[train]\ndata = "{DATA}"\nsize = 32\n')
    with pytest.raises(UserError, match=message.format(nets=nets)) as caught:
        load_study(path)
    assert str(caught.value).startswith(f"{path}: [train]: ")
