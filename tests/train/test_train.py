"""Short training runs of tiny models: the record, reproducibility, resume and divergence."""

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import model as zoo
from blvprof.errors import UserError
from blvprof.measure.flops import count_macs
from blvprof.train import TrainingDiverged, train_model
from blvprof.train.checkpoint import CHECKPOINT_FILE
from model.checkpoints import read_state_dict
from tests.train.common import losses, quick_spec, straight_stopped_resumed, tiny

HISTORY_KEYS = {"epoch", "train_loss", "train_top1", "val_loss", "val_top1", "val_top5", "seconds"}


def test_a_short_run_returns_a_complete_record(tmp_path: Path) -> None:
    record = train_model("tsn", tiny("tsn"), quick_spec(epochs=2), device="cpu", out_dir=tmp_path)
    assert len(record["history"]) == 2
    for entry in record["history"]:
        assert set(entry) >= HISTORY_KEYS
        assert math.isfinite(entry["train_loss"]) and entry["seconds"] > 0
    assert record["history"][-1]["lr"] == pytest.approx(0.0)  # the cosine ends at zero
    assert 0 <= record["top1"] <= record["top5"] <= 1
    assert record["best_top1"] == max(e["val_top1"] for e in record["history"])
    assert (record["num_classes"], record["train_clips"], record["val_clips"]) == (4, 16, 4)
    assert record["class_names"][:2] == ["move_left", "move_right"]
    assert set(record["pair_accuracy"]) == {"move_left|move_right", "move_up|move_down"}
    assert 0 <= record["pair_accuracy_mean"] <= 1
    assert record["params"] == sum(
        p.numel() for p in zoo.create_model("tsn", **tiny("tsn"), num_classes=4).parameters()
    )
    trained = zoo.create_model("tsn", **tiny("tsn"), num_classes=4, image_size=32)
    assert record["macs"] == count_macs(trained, (1, 3, 4, 32, 32)).macs  # fvcore agrees
    assert record["train_flops"] > 2 * record["macs"] and not record["flip"]
    assert (record["precision"], record["device"], record["stopped"]) == ("fp32", "cpu", None)
    assert record["config"]["image_size"] == 32 and record["config"]["num_classes"] == 4
    assert "fc.weight" in read_state_dict(tmp_path / CHECKPOINT_FILE)
    saved = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)  # every entry is plain data
    assert saved["epoch"] == 2 and saved["history"] == record["history"]


def test_seeded_deterministic_runs_repeat_exactly() -> None:
    spec = quick_spec(epochs=2, deterministic=True, seed=3)
    first = train_model("tam_resnet", tiny("tam_resnet"), spec, device="cpu")
    second = train_model("tam_resnet", tiny("tam_resnet"), spec, device="cpu")
    assert losses(first) == losses(second)
    assert not torch.are_deterministic_algorithms_enabled()  # the flag is restored


def test_loader_workers_do_not_change_a_seeded_run() -> None:
    overrides = tiny("tsn", dropout=0.5)  # dropout draws from the reseeded global generator
    spec = quick_spec(epochs=2)
    in_process = train_model("tsn", overrides, spec, device="cpu")
    with_workers = train_model("tsn", overrides, replace(spec, workers=2), device="cpu")
    assert losses(in_process) == losses(with_workers)


def test_an_interrupted_run_resumes_where_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    straight, stopped, resumed = straight_stopped_resumed(
        "tsm", tiny("tsm"), quick_spec(epochs=2), tmp_path, monkeypatch
    )
    assert stopped["stopped"] == "interrupted during epoch 2"
    assert len(stopped["history"]) == 1
    assert resumed["resumed_from_epoch"] == 1
    assert [e["epoch"] for e in resumed["history"]] == [1, 2]
    assert losses(resumed) == losses(straight)


def test_resume_refuses_other_settings_and_missing_checkpoints(tmp_path: Path) -> None:
    train_model("tsn", tiny("tsn"), quick_spec(), device="cpu", out_dir=tmp_path)
    with pytest.raises(UserError, match=r"other settings \(lr\)"):
        train_model(
            "tsn", tiny("tsn"), quick_spec(lr=0.1), device="cpu", out_dir=tmp_path, resume=True
        )
    with pytest.raises(UserError, match="config"):
        train_model(
            "tsn",
            tiny("tsn", num_frames=2),
            quick_spec(),
            device="cpu",
            out_dir=tmp_path,
            resume=True,
        )
    with pytest.raises(UserError, match="nothing to resume"):
        train_model(
            "tsn", tiny("tsn"), quick_spec(), device="cpu", out_dir=tmp_path / "new", resume=True
        )


def test_a_nan_loss_stops_with_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    create = zoo.create_model

    def poisoned(name: str, **overrides: Any) -> nn.Module:
        net = create(name, **overrides)
        net.fc.register_forward_hook(lambda module, inputs, output: output * float("nan"))
        return net

    monkeypatch.setattr(zoo, "create_model", poisoned)
    with pytest.raises(TrainingDiverged, match=r"loss nan at epoch 1, step 1") as failure:
        train_model("tsn", tiny("tsn"), quick_spec(), device="cpu")
    assert isinstance(failure.value, RuntimeError) and "\n" not in str(failure.value)


def test_bad_inputs_fail_before_training() -> None:
    with pytest.raises(UserError, match="unknown kind"):
        train_model("tsn", tiny("tsn"), quick_spec(data="imagenet"), device="cpu")
    with pytest.raises(UserError, match="num_classes=5 conflicts with the data"):
        train_model("tsn", {**tiny("tsn"), "num_classes": 5}, quick_spec(), device="cpu")
    with pytest.raises(UserError, match="larger than the 16 training clips"):
        train_model("tsn", tiny("tsn"), quick_spec(batch=32), device="cpu")
    with pytest.raises(UserError, match="depth=27 is not one of"):
        train_model("tsn", tiny("tsn", depth=27), quick_spec(), device="cpu")
    with pytest.raises(UserError, match="resume needs out_dir"):
        train_model("tsn", tiny("tsn"), quick_spec(), device="cpu", resume=True)
