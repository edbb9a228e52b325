"""Checkpoints load safely (weights_only) and fail with one line naming what does not fit."""

import pytest
import torch

from model import create_model
from model.checkpoints import CheckpointError, save_checkpoint
from tests.model.official_fixture import fill_state, load_fixture

SMALL = dict(depth=26, beta=2, base_width=8, num_frames=4, num_classes=5, image_size=64)


def test_own_checkpoint_round_trip(tmp_path) -> None:
    model = create_model("blvnet_tam", **SMALL).eval()
    path = tmp_path / "run" / "last.pt"
    save_checkpoint(path, model, "blvnet_tam", epoch=2)
    loaded = create_model("blvnet_tam", checkpoint=str(path), **SMALL).eval()
    x = torch.randn(1, 3, 4, 64, 64)
    torch.testing.assert_close(loaded(x), model(x))
    assert torch.load(path, weights_only=True)["epoch"] == 2


def test_module_prefix_is_accepted(tmp_path) -> None:
    model = create_model("tsn", **{k: v for k, v in SMALL.items() if k != "beta"})
    path = tmp_path / "dp.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, path)
    create_model("tsn", checkpoint=str(path), **{k: v for k, v in SMALL.items() if k != "beta"})


def test_mismatched_checkpoint_names_keys(tmp_path) -> None:
    state = create_model("blvnet_tam", **SMALL).state_dict()
    state.pop("fc.bias")
    state["extra.weight"] = torch.zeros(1)
    state["fc.weight"] = torch.zeros(7, 7)
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as error:
        create_model("blvnet_tam", checkpoint=str(path), **SMALL)
    message = str(error.value)
    assert "missing (1): fc.bias" in message
    assert "unexpected (1): extra.weight" in message
    assert "mis-shaped (1): fc.weight (7, 7) vs (5, 256)" in message
    assert "\n" not in message


class Payload:
    """Not a tensor: unpickling it would run code, so weights_only must refuse it."""


def test_pickled_objects_are_refused(tmp_path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "payload": Payload()}, path)
    with pytest.raises(CheckpointError, match="cannot be read safely"):
        create_model("blvnet_tam", checkpoint=str(path), **SMALL)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        create_model("blvnet_tam", checkpoint=str(tmp_path / "nope.pt"), **SMALL)


@pytest.mark.parametrize(
    ("case_index", "dropped"), [(0, "layer1.tam.next"), (2, "tam.blending_layers.1")]
)
def test_official_checkpoint_missing_a_tam_tap_names_it(tmp_path, case_index, dropped) -> None:
    case = load_fixture()["cases"][case_index]
    assert case["blending_frames"] >= 3  # the dropped tap lies inside the kernel
    state = fill_state([(k, s) for k, s in case["keys"] if not k.endswith(f"{dropped}.weight")])
    path = tmp_path / "official.pth"
    torch.save({"state_dict": state}, path)
    config = {k: case[k] for k in ("depth", "alpha", "beta", "blending_frames", "num_frames")}
    with pytest.raises(CheckpointError, match=f"lacks tap\\(s\\): {dropped}.weight"):
        create_model("blvnet_tam", checkpoint=str(path), num_classes=case["num_classes"], **config)
