"""Tiny training setups shared by the training tests."""

from pathlib import Path
from typing import Any

import pytest

import blvprof.train.loop as loop
import blvprof.train.run as run
from blvprof.train import TrainSpec, train_model
from tests.tiny import tiny_overrides

DATA = "synthetic:classes=4,samples=16"


def tiny(name: str, **changes: Any) -> dict[str, Any]:
    """Tiny model overrides without the fields a run sets itself (classes, image size)."""
    overrides = tiny_overrides(name, **changes)
    overrides.pop("num_classes")
    overrides.pop("image_size")
    return overrides


def quick_spec(**changes: Any) -> TrainSpec:
    """One epoch of 2 steps on 32² clips: seconds on a 2-core CPU."""
    settings: dict[str, Any] = {"data": DATA, "epochs": 1, "batch": 8, "size": 32, **changes}
    return TrainSpec(**settings)


def losses(record: dict[str, Any]) -> list[tuple[float, float]]:
    """(train loss, validation loss) per epoch of a run's record."""
    return [(entry["train_loss"], entry["val_loss"]) for entry in record["history"]]


def straight_stopped_resumed(
    model: str, overrides: dict[str, Any], spec: TrainSpec, out_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The records of a straight run of ``spec``, of one interrupted (Ctrl-C) during its second
    epoch with its checkpoint in ``out_dir``, and of that one resumed."""
    straight = train_model(model, overrides, spec, device="cpu")
    evaluations = []

    def interrupt_second_epoch(*args: Any) -> loop.Evaluation:
        evaluations.append(1)
        if len(evaluations) == 2:
            raise KeyboardInterrupt
        return loop.evaluate(*args)

    with monkeypatch.context() as patched:
        patched.setattr(run, "evaluate", interrupt_second_epoch)
        stopped = train_model(model, overrides, spec, device="cpu", out_dir=out_dir)
    resumed = train_model(model, overrides, spec, device="cpu", out_dir=out_dir, resume=True)
    return straight, stopped, resumed
