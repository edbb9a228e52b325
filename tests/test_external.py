"""Model references: per-clip counts in every layout, the zoo through a reference, the Python API,
typed arguments, edited files, and a study that mixes a zoo family with a reference."""

from pathlib import Path

import pytest
import torch

from blvprof import external
from blvprof.errors import UserError
from blvprof.profile import ProfileRequest, profile, profile_module
from blvprof.report.study_report import render_study
from blvprof.store import Store
from blvprof.study import load_study
from blvprof.sweep import plan, run_tasks
from tests.external_nets import write_nets
from tests.tiny import tiny_overrides

CLIP = (3, 4, 16, 16)
LAYOUTS = [("Net3D", "ncthw"), ("TSN2D", "frames-in-batch"),
           ("FramesInChannels", "frames-in-channels")]


@pytest.fixture
def nets(tmp_path: Path) -> Path:
    return write_nets(tmp_path)


def _profile(reference: str, **fields) -> dict:
    return profile(ProfileRequest(reference, **fields))


@pytest.mark.parametrize("counter", ["fvcore", "flop_counter"])
def test_one_network_in_three_layouts_counts_the_same_per_clip(nets, counter) -> None:
    records = {layout: _profile(f"{nets}:{name}", input_shape=CLIP, layout=layout,
                                metrics=("flops",), counter=counter)
               for name, layout in LAYOUTS}
    macs = {layout: r["macs"] for layout, r in records.items()}
    conv = 16 * 16 * 4 * 8 * 3 * 9  # output pixels × frames × out × in × kernel
    assert set(macs.values()) == {conv + 8 * 5}, macs  # plus the classifier
    assert len({r["train_flops"] for r in records.values()}) == 1
    shapes = {layout: r["model_input_shape"] for layout, r in records.items()}
    assert shapes == {"ncthw": [1, 3, 4, 16, 16], "frames-in-batch": [4, 3, 16, 16],
                      "frames-in-channels": [1, 12, 16, 16]}
    for layout, record in records.items():
        assert record["input_shape"] == [1, *CLIP] and record["layout"] == layout
        assert record["family"] == "external" and record["config"]["layout"] == layout
    # a callable taking num_frames gets the clip's T; the record names it with the arguments
    assert records["frames-in-batch"]["config"]["arguments"] == {"num_frames": 4}


def test_the_ntchw_layout_hands_the_model_frames_first() -> None:
    clip = torch.arange(2 * 3 * 4).reshape(1, 3, 4, 1, 2).float()
    frames_first = external.to_layout(clip, "ntchw")
    assert frames_first.shape == (1, 4, 3, 1, 2)
    assert torch.equal(frames_first[0, 1, 2], clip[0, 2, 1])
    folded = external.to_layout(clip, "frames-in-channels")
    assert torch.equal(folded[0, 3:6], clip[0, :, 1])  # frame 1's three channels together


def test_a_zoo_model_through_a_reference_counts_what_the_zoo_counts(nets) -> None:
    metrics = ("flops", "params")
    # its input_spec says what it takes: no --input-shape
    wrapped = _profile(f"{nets}:tiny_tsn", overrides={"num_frames": 2}, metrics=metrics)
    zoo_record = _profile("tsn", overrides=tiny_overrides("tsn", num_frames=2, image_size=32),
                          metrics=metrics)
    for key in ("macs", "fvcore_macs", "train_flops", "params", "input_shape", "num_frames"):
        assert wrapped[key] == zoo_record[key], key
    assert wrapped["unsupported_ops"] == zoo_record["unsupported_ops"]
    assert wrapped["layout"] == "ncthw"


def test_profile_module_returns_the_same_record_for_a_built_module(nets) -> None:
    net = external.load_callable(f"{nets}:TSN2D")(num_frames=4)
    net.train()
    record = profile_module(net, CLIP, layout="frames-in-batch",
                            metrics=("flops", "params", "memory"))
    by_reference = _profile(f"{nets}:TSN2D", input_shape=CLIP, layout="frames-in-batch")
    for key in ("macs", "train_flops", "params", "model_input_shape"):
        assert record[key] == by_reference[key], key
    assert record["memory"]["train_peak_bytes"] == by_reference["memory"]["train_peak_bytes"]
    assert record["model"] == "TSN2D" and record["family"] == "external"
    assert net.training and all(not p.is_meta for p in net.parameters())  # left as it was


def test_memory_estimate_of_a_reference(nets) -> None:
    record = _profile(f"{nets}:Net3D", input_shape=CLIP, metrics=("memory",), batch=2)
    memory = record["memory"]
    assert memory["method"] == "estimate" and memory["batch"] == 2
    activations = 2 * 8 * 4 * 16 * 16 * 4  # the conv output of two clips, fp32
    assert memory["train_peak_bytes"] >= activations
    assert memory["per_clip_bytes"] > 0 and memory["max_batch"] > 0
    assert memory["breakdown"]["parameters"] > 0


def test_arguments_are_typed_by_the_callable(nets) -> None:
    signature = external.signature_of(external.load_callable(f"{nets}:net3d"), "net3d")
    parse = external.parse_argument
    assert parse(signature, "width", "16") == 16
    assert parse(signature, "scale", "2") == 2.0
    assert parse(signature, "bias", "no") is False
    assert parse(signature, "mode", "b") == "b"
    assert parse(signature, "extra", "none") is None and parse(signature, "extra", "3") == 3
    assert parse(signature, "loose", "7") == 7  # typed by its default
    for key, text, expected in [("width", "wide", "expects int"),
                                ("mode", "c", "expects a|b"),
                                ("bias", "maybe", "expects bool")]:
        with pytest.raises(UserError, match=expected):
            parse(signature, key, text)
    with pytest.raises(UserError, match="takes no argument 'depth'; it takes: width"):
        parse(signature, "depth", "26")
    with pytest.raises(UserError, match="width='8' has type str, expected int"):
        external.check_arguments(signature, {"width": "8"})


def test_an_edited_file_is_measured_again(nets) -> None:
    reference = f"{nets}:Net3D"
    before = _profile(reference, input_shape=CLIP, metrics=("flops",), counter="flop_counter")
    digest = external.source_digest(reference)
    nets.write_text(nets.read_text().replace("(1, 3, 3), padding=(0, 1, 1)",
                                             "(3, 3, 3), padding=(1, 1, 1)"))
    after = _profile(reference, input_shape=CLIP, metrics=("flops",), counter="flop_counter")
    assert after["macs"] > before["macs"]  # the edited file, not the module imported first
    assert after["config"]["source"] == external.source_digest(reference) != digest


MIXED = """
[study]
name = "mixed"
[measure]
metrics = ["flops", "params", "memory"]
counter = "flop_counter"
device = "cpu"
[defaults]
depth = 26
base_width = 8
image_size = 32
num_classes = 5
[[grid]]
model = "tsn"
num_frames = 2
[[grid]]
model = "{nets}:TSN2D"
input_shape = "3,2,32,32"
layout = "frames-in-batch"
width = [8, 16]
"""


def test_a_study_mixing_a_zoo_family_and_a_reference_runs_resumes_and_reports(
        nets, tmp_path) -> None:
    path = tmp_path / "mixed.toml"
    path.write_text(MIXED.format(nets=nets))
    study = load_study(path)
    assert [p.model for p in study.points] == ["tsn", f"{nets}:TSN2D", f"{nets}:TSN2D"]
    with Store(tmp_path / "r.db") as store:
        first = run_tasks(plan(study), store)
        again = run_tasks(plan(load_study(path)), store)
        rows = store.runs(study="mixed")
    assert (first.ok, first.failed, again.skipped) == (3, 0, 3)
    external_rows = [r for r in rows if r["family"] == "external"]
    assert [r["config"]["arguments"]["width"] for r in external_rows] == [8, 16]
    assert all(r["result"]["layout"] == "frames-in-batch" for r in external_rows)
    assert all(r["result"]["model_input_shape"] == [2, 3, 32, 32] for r in external_rows)
    report = render_study(rows, tmp_path / "out", "mixed", "blvprof report").read_text()
    assert f"| {nets}:TSN2D(num_classes=5, num_frames=2, width=16) | – | 2 |" in report
    assert "TSN-R26" in report and "×" in report.split("TSN2D")[1]  # ratios to TSN

    # an edited model file is a new key: its points run again, TSN's is reused
    keys = [t.key for t in plan(study)]
    nets.write_text(nets.read_text() + "\n# edited\n")
    edited = [t.key for t in plan(load_study(path))]
    assert edited[0] == keys[0] and not set(edited[1:]) & set(keys)


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ('model = "{nets}:Nope"', "has no attribute 'Nope'"),
        ('model = "{nets}:Net3D"\nwidth = "wide"', "width='wide' has type str, expected int"),
        ('model = "{nets}:Net3D"\ndepth = 26', "takes no argument 'depth'"),
        ('model = "{nets}:Net3D"\nlayout = "nhwc"', "layout 'nhwc' is not one of"),
        ('model = "{nets}:Net3D"\ninput_shape = "3,4"', "must be C,T,H,W"),
        ('model = "missing.py:Net"', "no such file missing.py"),
    ],
)
def test_a_bad_reference_in_a_study_names_the_file_and_grid(nets, tmp_path, grid,
                                                            message) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[[grid]]\n" + grid.format(nets=nets) + "\n")
    with pytest.raises(UserError, match=message) as caught:
        load_study(path)
    assert str(caught.value).startswith(f"{path}: grid[0]")


def test_a_module_reference_imports_by_name(nets, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(nets.parent))
    by_module = _profile("nets:Net3D", input_shape=CLIP, metrics=("flops",),
                         counter="flop_counter")
    by_file = _profile(f"{nets}:Net3D", input_shape=CLIP, metrics=("flops",),
                       counter="flop_counter")
    assert by_module["macs"] == by_file["macs"]
    assert by_module["config"]["source"] == by_file["config"]["source"]  # the same file


def test_a_study_point_frames_set_the_clip_and_the_argument() -> None:
    arguments, clip, layout = external.split_point(
        {"num_frames": 8, "input_shape": "3x4x32x32", "layout": "ntchw", "width": 4})
    assert (arguments, clip, layout) == ({"num_frames": 8, "width": 4}, (3, 8, 32, 32), "ntchw")
