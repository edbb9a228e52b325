"""Tiny training setups shared by the training tests."""

from typing import Any

from blvprof.train import TrainSpec
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
