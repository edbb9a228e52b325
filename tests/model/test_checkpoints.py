"""Checkpoints load safely (weights_only) and fail with one line naming what does not fit."""

import pytest
import torch

from model import create_model
from model.checkpoints import CheckpointError, read_state_dict, save_checkpoint
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
    with pytest.raises(CheckpointError, match=r"is refused: it holds .*Payload") as error:
        create_model("blvnet_tam", checkpoint=str(path), **SMALL)
    assert "weights_only" not in str(error.value) and "\n" not in str(error.value)


class Code:
    """Unpickles to a call of os.system: the classic malicious checkpoint."""

    def __reduce__(self) -> tuple:
        import os

        return (os.system, ("true",))


def _good(path) -> bytes:
    torch.save({"a": torch.zeros(1000)}, path)
    return path.read_bytes()


@pytest.mark.parametrize(("content", "reason"), [
    ("code", "is refused: it holds posix.system, code rather than tensors"),
    (b"epoch 1 loss 0.3\n", "is not a PyTorch checkpoint (neither a torch.save archive nor"),
    (bytes(range(256)) * 16, "is not a PyTorch checkpoint"),
    (b"\x80\x02" + bytes(range(200)), "is not a readable PyTorch checkpoint"),
    ("truncated", "is truncated or corrupt"),
    (b"", "is empty"),
])
def test_unreadable_checkpoints_name_the_cause(content, reason, tmp_path) -> None:
    path = tmp_path / "bad.pt"
    if content == "code":
        torch.save({"state_dict": {"a": torch.zeros(1)}, "x": Code()}, path)
    elif content == "truncated":
        whole = _good(tmp_path / "good.pt")
        path.write_bytes(whole[: len(whole) // 2])
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError) as error:
        read_state_dict(path)
    message = str(error.value)
    assert reason in message
    assert "weights_only" not in message and "\n" not in message  # never torch's unsafe advice


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
