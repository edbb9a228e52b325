"""The registry: every model builds, runs forward and backward; invalid configs fail clearly."""

import pytest
import torch

from model import create_model, list_models, resolve_config
from tests.tiny import tiny_overrides


@pytest.mark.parametrize("name", list_models())
def test_every_model_runs_forward_and_backward(name: str) -> None:
    model = create_model(name, **tiny_overrides(name))
    spec = model.input_spec
    assert spec.shape(2) == (2, 3, 4, 64, 64)
    logits = model(torch.randn(spec.shape(2)))
    assert logits.shape == (2, 5)
    assert torch.isfinite(logits).all()
    logits.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_families_are_listed() -> None:
    families = set(list_models(families_only=True))
    assert {"blvnet_tam", "blvnet", "tsn", "tam_resnet", "tsm", "i3d"} <= families


def test_paper_alias_states_its_difference() -> None:
    config = resolve_config("blvnet_tam_101_a2_b4_f16x2")
    assert (config.depth, config.num_frames, config.alpha, config.beta) == (101, 32, 2, 4)


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("nope", {}, "unknown model 'nope'"),
        ("blvnet_tam", {"depth": 34}, "depth=34"),
        ("tsn", {"depth": 77}, "depth=77"),
        ("blvnet_tam", {"num_frames": 15}, "num_frames=15"),
        ("blvnet_tam", {"num_frames": 0}, "num_frames=0"),
        ("blvnet_tam", {"alpha": 3}, "alpha=3 does not divide 64 channels"),
        ("blvnet_tam", {"beta": 7}, "beta=7"),
        ("blvnet_tam", {"blending_frames": 4}, "blending_frames=4"),
        ("blvnet_tam", {"blending_frames": 0}, "blending_frames=0"),
        ("blvnet_tam", {"blending_frames": -3}, "blending_frames=-3"),
        ("tam_resnet", {"blending_frames": 2}, "blending_frames=2"),
        ("tsn", {"alpha": 2}, "tsn has no field 'alpha'"),
        ("blvnet_tam", {"alpha": "2"}, "alpha='2' has type str"),
        ("blvnet_tam", {"use_tam": 1}, "use_tam=1 has type int"),
        ("tsm", {"shift_div": 1}, "shift_div=1"),
        ("i3d", {"dropout": 1.5}, "dropout=1.5"),
    ],
)
def test_invalid_configs_name_the_field(name: str, overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")) as error:
        create_model(name, **overrides)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name", ["blvnet_tam", "tsn", "i3d"])
def test_clip_with_wrong_frame_count_is_refused(name: str) -> None:
    model = create_model(name, **tiny_overrides(name))
    with pytest.raises(ValueError, match="num_frames=4"):
        model(torch.randn(1, 3, 6, 64, 64))


def test_input_contract_defaults() -> None:
    assert create_model("blvnet_tam").input_spec.shape() == (1, 3, 16, 224, 224)
    assert create_model("tsn", num_frames=8).input_spec.shape(2) == (2, 3, 8, 224, 224)
