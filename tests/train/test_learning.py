"""Training works: a TAM model fits the order-sensitive synthetic pair; TSN cannot see order.

Accuracy after a few seconds of CPU training is too noisy to assert; the TAM model's falling loss
and TSN's exact invariance to playing a clip backwards are not.
"""

from dataclasses import replace
from pathlib import Path

import torch

import model as zoo
from blvprof.data import build_datasets, parse_data_spec
from blvprof.train import TrainSpec, train_model
from blvprof.train.checkpoint import CHECKPOINT_FILE
from tests.train.common import tiny

ONE_PAIR = TrainSpec(  # move_left vs move_right: the same frames in opposite orders
    data="synthetic:classes=2,samples=96",
    epochs=5,
    batch=8,
    size=48,
    lr=0.02,
    warmup_epochs=0.5,
)


def test_tam_resnet_training_loss_falls() -> None:
    record = train_model("tam_resnet", tiny("tam_resnet"), ONE_PAIR, device="cpu")
    losses = [entry["train_loss"] for entry in record["history"]]
    assert losses[-1] < losses[0]
    assert set(record["pair_accuracy"]) == {"move_left|move_right"}


def test_trained_tsn_gives_a_clip_and_its_reversal_the_same_logits(tmp_path: Path) -> None:
    spec = replace(ONE_PAIR, epochs=2)
    train_model("tsn", tiny("tsn"), spec, device="cpu", out_dir=tmp_path)
    net = zoo.create_model(
        "tsn",
        checkpoint=str(tmp_path / CHECKPOINT_FILE),
        **tiny("tsn"),
        num_classes=2,
        image_size=spec.size,
    ).eval()
    bundle = build_datasets(parse_data_spec(spec.data), num_frames=4, size=spec.size)
    clips = torch.stack([bundle.val[i][0] for i in range(8)])  # (N, C, T, H, W)
    with torch.no_grad():
        forward, backward = net(clips), net(clips.flip(2))
    torch.testing.assert_close(forward, backward, rtol=1e-5, atol=1e-5)
    assert torch.equal(forward.argmax(1), backward.argmax(1))
