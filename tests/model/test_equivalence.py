"""Same weights, same logits as the official bLVNet-TAM (frozen in a committed fixture)."""

import pytest
import torch

from model import create_model
from tests.model.official_fixture import clip_input, fill_state, load_fixture

CASES = load_fixture()["cases"]


def _case_id(case: dict) -> str:
    fields = ("depth", "alpha", "beta", "blending_frames", "num_frames")
    return "-".join(f"{k[0]}{case[k]}" for k in fields)


def _build(case: dict, tmp_path, layout: str, reference: bool) -> torch.nn.Module:
    state = fill_state([(k, s) for k, s in case["keys"]])
    if layout == "module":
        state = {f"module.{k}": v for k, v in state.items()}
    payload = {"state_dict": state, "epoch": 3} if layout != "raw" else state
    path = tmp_path / "official.pth.tar"
    torch.save(payload, path)
    return create_model(
        "blvnet_tam",
        checkpoint=str(path),
        depth=case["depth"],
        alpha=case["alpha"],
        beta=case["beta"],
        blending_frames=case["blending_frames"],
        num_frames=case["num_frames"],
        num_classes=case["num_classes"],
        dropout=case["dropout"],
        reference=reference,
    ).eval()


@pytest.mark.parametrize("case", CASES, ids=_case_id)
@pytest.mark.parametrize("reference", [False, True], ids=["fast", "reference"])
def test_logits_match_official(case: dict, reference: bool, tmp_path) -> None:
    layout = ["raw", "wrapped", "module"][CASES.index(case) % 3]
    model = _build(case, tmp_path, layout, reference)
    expected = torch.tensor(case["logits"])
    with torch.no_grad():
        logits = model(clip_input(case["input_seed"], case["input_shape"]))
    error = (logits - expected).abs().max() / expected.abs().max()
    assert error < 1e-4, f"max relative error {error:.2e}"
    # The fixture must be discriminating: logits differ across classes and clips.
    assert expected.std() > 1e-2 * expected.abs().max()
