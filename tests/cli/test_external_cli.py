"""`blvprof profile`, `compare` and `train` on model references; each bad one: one line, exit 2."""

import json
from pathlib import Path

import pytest

from blvprof.store import Store
from tests.cli.run import run
from tests.external_nets import BROKEN_IMPORT, write_nets

TINY_TSN = ["--depth", "26", "--size", "32", "--classes", "5", "--set", "base_width=8"]


@pytest.fixture
def nets(tmp_path: Path) -> Path:
    return write_nets(tmp_path)


def test_profile_a_reference_with_typed_arguments(nets, tmp_path, capsys, monkeypatch) -> None:
    db = tmp_path / "r.db"
    result = run(["profile", f"{nets}:TSN2D", "--input-shape", "3,4,32,32", "--layout",
                  "frames-in-batch", "--set", "width=16", "--metrics", "flops,params", "--json",
                  "--db", str(db)], capsys, monkeypatch)
    assert result.code == 0, result.err
    record = json.loads(result.out)
    assert record["config"]["arguments"] == {"width": 16, "num_frames": 4}
    assert record["model_input_shape"] == [4, 3, 32, 32] and record["layout"] == "frames-in-batch"
    assert record["macs"] == 32 * 32 * 4 * 16 * 3 * 9 + 16 * 5
    assert set(record["unsupported_ops"]) <= {"aten::mean", "aten::mul"}
    with Store(db) as store:
        (row,) = store.runs()
    assert row["model"] == f"{nets}:TSN2D" and row["family"] == "external"
    table = run(["profile", f"{nets}:TSN2D", "--input-shape", "3,4,32,32", "--layout",
                 "frames-in-batch", "--metrics", "flops", "--db", str(db)], capsys, monkeypatch)
    title = " ".join(table.out.split())  # however the console wraps it
    assert table.code == 0 and "TSN2D(num_frames=4) [1, 3, 4, 32, 32] as frames-in-batch" in title


def test_compare_a_reference_with_zoo_models(nets, tmp_path, capsys, monkeypatch) -> None:
    result = run(["compare", "tsn", f"{nets}:Net3D", "--input-shape", "3,2,32,32", *TINY_TSN,
                  "--metrics", "flops,params,memory", "--json", "--db", str(tmp_path / "r.db")],
                 capsys, monkeypatch)
    assert result.code == 0, result.err
    tsn, net = json.loads(result.out)["rows"]
    assert (tsn["frames"], net["frames"]) == (2, 2)  # frames default to the clip's T
    assert net["label"] == f"{nets}:Net3D(num_classes=5)"  # --classes reaches its argument
    assert net["depth"] is None and net["memory_method"] == "estimate"
    for metric in ("gmacs", "params_m", "train_mib_per_clip", "max_batch"):
        assert net[f"{metric}_ratio"] == pytest.approx(net[metric] / tsn[metric]), metric
    assert net["gmacs_ratio"] < 1  # one conv is less than a ResNet-26


def test_compare_a_reference_over_frames(nets, tmp_path, capsys, monkeypatch) -> None:
    result = run(["compare", f"{nets}:TSN2D", "--input-shape", "3,2,16,16", "--layout",
                  "frames-in-batch", "--frames", "2,4", "--metrics", "flops", "--json", "--db",
                  str(tmp_path / "r.db")], capsys, monkeypatch)
    assert result.code == 0, result.err
    two, four = json.loads(result.out)["records"]
    assert [two["input_shape"], four["input_shape"]] == [[1, 3, 2, 16, 16], [1, 3, 4, 16, 16]]
    assert four["config"]["arguments"] == {"num_frames": 4}  # T reaches its argument
    assert four["macs"] - 8 * 5 == 2 * (two["macs"] - 8 * 5)  # the conv: MACs per frame


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{dir}/missing.py:Net"], "no such file"),
        (["nosuchpackage_for_blvprof.nets:Net"],
         "cannot import nosuchpackage_for_blvprof.nets: module 'nosuchpackage_for_blvprof' "
         "not found"),
        (["{dir}/broken.py:Net"],
         "importing {dir}/broken.py failed: ModuleNotFoundError: No module named "
         "'nosuchpackage_for_blvprof'"),
        (["{nets}:Nope"], "has no attribute 'Nope'; it defines: FramesInChannels, Net3D"),
        (["{nets}:NOT_CALLABLE"], "NOT_CALLABLE is not callable (type int)"),
        (["{nets}:raises"], "raises() raised RuntimeError: weights are missing"),
        (["{nets}:not_a_module"], "not_a_module() returned int, not a torch.nn.Module"),
        (["{nets}:Net3D", "--layout", "frames-in-batch"],
         "rejected an input of shape (8, 3, 16, 16) (layout frames-in-batch, 2 clips of "
         "C,T,H,W=(3, 4, 16, 16)): RuntimeError: Given groups=1"),
        (["{nets}:per_frame_logits", "--layout", "frames-in-batch"],
         "returned (8, 4) for an input of shape (8, 3, 16, 16)"),
        (["{nets}:Net3D", "--set", "width=wide"], "--set width=wide: {nets}:Net3D expects int"),
        (["{nets}:Net3D", "--set", "depth=26"], "takes no argument 'depth'"),
        (["{nets}:Net3D", "--depth", "26"], "--depth is an option of registered models"),
        (["{nets}:Net3D", "--layout", "nhwc"], "layout 'nhwc' is not one of"),
        (["{nets}:Net3D", "--input-shape", "3,4,16"], "must be C,T,H,W"),
        (["{nets}:Net3D", "--input-shape", None], "declares no input_spec: give --input-shape"),
        (["tsn", "--layout", "ntchw", "--input-shape", None], "are for model references"),
        (["nets.py"], "unknown model 'nets.py'"),
    ],
)
def test_a_bad_reference_is_one_line_and_exit_2(args, message, nets, tmp_path, capsys,
                                                monkeypatch) -> None:
    (tmp_path / "broken.py").write_text(BROKEN_IMPORT)
    shape = [] if "--input-shape" in args else ["--input-shape", "3,4,16,16"]
    if None in args:  # this case leaves the shape out
        args = [a for a in args if a not in (None, "--input-shape")]
    filled = [a.format(dir=tmp_path, nets=nets) for a in args]
    result = run(["profile", *filled, *shape, "--metrics", "flops", "--db",
                  str(tmp_path / "r.db")], capsys, monkeypatch)
    assert result.code == 2, result.err
    lines = result.err.strip().splitlines()
    assert result.out == "" and len(lines) == 1, result.err
    assert message.format(dir=tmp_path, nets=nets) in lines[0]


def test_compare_refuses_a_set_no_model_takes(nets, tmp_path, capsys, monkeypatch) -> None:
    result = run(["compare", "tsn", f"{nets}:Net3D", "--input-shape", "3,2,32,32", "--set",
                  "colour=red", "--db", str(tmp_path / "r.db")], capsys, monkeypatch)
    assert result.code == 2 and "no model compared has 'colour'" in result.err


TRAIN = ["--data", "synthetic:classes=4,samples=40", "--size", "32", "--max-train-batches", "2",
         "--seed", "0", "--device", "cpu"]


def test_train_a_reference_records_it_and_resumes(nets, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the default checkpoint folder is runs/NAME-TIME here
    db = tmp_path / "r.db"
    model = [f"{nets}:TSN2D", "--layout", "frames-in-batch", "--frames", "4", "--set", "width=4"]
    result = run(["train", *model, *TRAIN, "--epochs", "1", "--json", "--db", str(db)], capsys,
                 monkeypatch)
    assert result.code == 0, result.err
    record = json.loads(result.out)
    assert record["config"]["arguments"] == {"width": 4, "num_classes": 4, "num_frames": 4}
    assert record["config"]["clip"] == [3, 4, 32, 32] and record["layout"] == "frames-in-batch"
    assert record["macs"] == 32 * 32 * 4 * 4 * 3 * 9 + 4 * 4
    with Store(db) as store:
        (row,) = store.runs(study="train")
    assert (row["model"], row["family"]) == (f"{nets}:TSN2D", "external")
    assert row["config"] == record["config"] and row["result"]["macs"] == record["macs"]
    assert row["result"]["train"]["pair_identity_mean"] == record["pair_identity_mean"]
    out = tmp_path / "runs" / row["key"]
    assert row["key"].startswith("nets.TSN2D-") and (out / "last.pt").is_file()
    resumed = run(["train", *model, *TRAIN, "--epochs", "2", "--resume", "--out", str(out),
                   "--db", str(db)], capsys, monkeypatch)
    assert resumed.code == 0, resumed.err
    title = f"{nets}:TSN2D(width=4, num_classes=4, num_frames=4) on synthetic"
    assert title.replace(" ", "") in "".join(resumed.out.split())  # however the console wraps


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{nets}:per_frame_logits", "--frames", "4", "--layout", "frames-in-batch"],
         "returned (8, 4) for an input of shape (8, 3, 32, 32) (2 clips, layout "
         "frames-in-batch); blvprof needs (clips, classes) logits"),
        (["{nets}:net3d", "--frames", "4"],
         "{nets}:net3d() returns 5 classes but the data has 4"),
        (["{nets}:Net3D", "--frames", "4", "--layout", "frames-in-batch"],
         "rejected an input of shape (8, 3, 32, 32) (layout frames-in-batch"),
        (["{nets}:Net3D", "--frames", "4", "--set", "num_classes=3"],
         "num_classes=3 conflicts with the data, which gives 4"),
        (["{nets}:Net3D"], "{nets}:Net3D has no num_frames argument and declares no input_spec"),
        (["{nets}:Net3D", "--input-shape", "3,4,64,64"],
         "input shape 3,4,64,64 conflicts with the run's clips 3,4,32,32"),
        (["{nets}:Net3D", "--frames", "4", "--input-shape", "3,2,32,32"],
         "--frames 4 conflicts with --input-shape 3,2,32,32"),
        (["{nets}:TSN2D", "--frames", "4", "--set", "num_frames=2"],
         "--frames 4 conflicts with --set num_frames=2"),
        (["{nets}:Net3D", "--frames", "4", "--layout", "nhwc"], "layout 'nhwc' is not one of"),
        (["{nets}:Net3D", "--frames", "4", "--depth", "26"],
         "--depth is an option of registered models"),
        (["{nets}:Nope", "--frames", "4"], "has no attribute 'Nope'"),
        (["tsn", "--layout", "ntchw"], "--input-shape and --layout are for model references"),
    ],
)
def test_training_a_bad_reference_is_one_line_exit_2_and_writes_nothing(
        args, message, nets, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    filled = [a.format(nets=nets) for a in args]
    result = run(["train", *filled, *TRAIN, "--epochs", "1", "--db", str(tmp_path / "r.db"),
                  "--out", str(tmp_path / "o")], capsys, monkeypatch)
    assert result.code == 2, result.err
    lines = result.err.strip().splitlines()
    assert result.out == "" and len(lines) == 1, result.err
    assert message.format(nets=nets) in lines[0]
    assert not {"r.db", "o", "runs"} & {path.name for path in tmp_path.iterdir()}  # nothing written
