"""The pure parts of a run: spec checks, the schedule, the optimiser's groups and the metrics."""

import itertools
import math
import pickle

import pytest
import torch
from torch import nn

from blvprof.errors import UserError
from blvprof.train import TrainSpec
from blvprof.train.metrics import (
    IDENTIFIED,
    PairTable,
    pair_accuracy,
    pair_counts,
    topk_correct,
)
from blvprof.train.schedule import lr_factor, make_optimizer, make_scheduler
from blvprof.train.spec import resolve_precision


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("epochs", 1.5),
        ("batch", 0),
        ("batch", True),
        ("lr", 0.0),
        ("lr", float("nan")),
        ("weight_decay", -1e-4),
        ("warmup_epochs", 4.0),
        ("size", 16),
        ("seed", -1),
        ("workers", -1),
        ("precision", "fp8"),
        ("max_train_batches", 0),
        ("max_val_batches", "2"),
        ("data", " "),
        ("deterministic", 1),
    ],
)
def test_bad_spec_values_name_the_field(field: str, value: object) -> None:
    with pytest.raises(UserError, match=rf"^{field}="):
        TrainSpec(**{field: value})  # type: ignore[arg-type]


def test_spec_defaults_are_the_studies_recipe_and_pickle() -> None:
    spec = TrainSpec()
    # the paper's optimiser and weight decay, at the studies' batch, peak lr and warm-up
    assert (spec.batch, spec.lr, spec.weight_decay, spec.warmup_epochs) == (8, 0.02, 5e-4, 1.0)
    assert spec.data == "synthetic:version=3"
    assert pickle.loads(pickle.dumps(spec)) == spec  # it travels to Ray tasks and subprocesses
    assert TrainSpec(lr=1).lr == 1  # an int where a float is declared is fine


def test_precision_auto_is_bf16_on_cuda_fp32_on_cpu() -> None:
    assert resolve_precision("auto", "cuda") == "bf16"
    assert resolve_precision("auto", "cpu") == "fp32"
    with pytest.raises(UserError, match="fp16"):
        resolve_precision("fp16", "cpu")


def test_lr_warms_up_linearly_then_follows_a_cosine_to_zero() -> None:
    factors = [lr_factor(step, total_steps=10, warmup_steps=2) for step in range(10)]
    assert factors[:2] == [0.5, 1.0]
    assert factors[2] == 1.0
    assert factors[6] == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))
    assert all(a >= b for a, b in itertools.pairwise(factors[1:]))
    assert lr_factor(10, total_steps=10, warmup_steps=0) == pytest.approx(0.0)


def test_scheduler_state_is_plain_data() -> None:
    net = nn.Linear(2, 2)
    optimizer = make_optimizer(net, 0.1, 5e-4)
    scheduler = make_scheduler(optimizer, total_steps=4, warmup_steps=0)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)
    for _ in range(2):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    state = scheduler.state_dict()
    assert all(isinstance(v, int | float | bool | list | dict | type(None)) for v in state.values())


def test_weight_decay_skips_batch_norm_and_biases() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    optimizer = make_optimizer(net, 0.01, 5e-4)
    decayed, undecayed = optimizer.param_groups
    assert decayed["weight_decay"] == 5e-4 and undecayed["weight_decay"] == 0.0
    assert [p.dim() for p in decayed["params"]] == [4, 2]  # conv and linear weights
    assert len(undecayed["params"]) == 4  # conv bias, BN weight and bias, linear bias
    assert optimizer.defaults["nesterov"] and optimizer.defaults["momentum"] == 0.9


def test_topk_counts_hand_computed() -> None:
    logits = torch.tensor([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0], [1.0, 3.0, 2.0]])
    labels = torch.tensor([0, 0, 2])
    assert topk_correct(logits, labels) == (1, 3)  # top-5 is top-3 with three classes


def test_pair_accuracy_compares_the_true_logit_with_its_twin() -> None:
    table = PairTable.build([(0, 1), (2, 3)], num_classes=5)
    logits = torch.tensor(
        [
            [2.0, 1.0, 9.0, 0.0, 0.0],  # label 0: beats twin 1 (class 2 wins overall)
            [2.0, 1.0, 0.0, 0.0, 0.0],  # label 1: loses to twin 0
            [0.0, 0.0, 1.0, 3.0, 0.0],  # label 3: beats twin 2
            [0.0, 0.0, 0.0, 0.0, 5.0],  # label 4: in no pair
        ]
    )
    counts = pair_counts(logits, torch.tensor([0, 1, 3, 4]), table)
    # columns: true beats twin, predicted class in the pair (label 0's prediction, 2, is not)
    assert counts.tolist() == [[1.0, 1.0, 2.0], [1.0, 1.0, 1.0]]
    names = ["a", "b", "c", "d", "e"]
    assert pair_accuracy(counts, [(0, 1), (2, 3)], names) == {"a|b": 0.5, "c|d": 1.0}
    assert pair_accuracy(counts, [(0, 1), (2, 3)], names, IDENTIFIED) == {"a|b": 0.5, "c|d": 1.0}


def test_bn_statistics_are_recomputed_as_the_plain_average_over_the_batches() -> None:
    from blvprof.train.distributed import Processes
    from blvprof.train.loop import Trainer, recompute_bn_statistics

    net = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.BatchNorm2d(2, momentum=0.1))
    with torch.no_grad():
        net[0].weight.fill_(1.0)
    net[1].running_mean.fill_(100.0)  # stale statistics, as after fast early training
    net.eval()
    trainer = Trainer(net, None, None, None, torch.device("cpu"), "fp32",  # type: ignore[arg-type]
                      Processes(rank=0, world_size=1, local_rank=0))
    batches = [(torch.full((2, 1, 2, 2), v), torch.zeros(2)) for v in (1.0, 3.0)]
    assert recompute_bn_statistics(trainer, net, batches) == 2
    # Each batch is constant, so its variance is 0; the two means are 1 and 3: average 2.
    assert net[1].running_mean.tolist() == [2.0, 2.0]
    assert net[1].running_var.tolist() == [0.0, 0.0]
    assert net[1].momentum == 0.1 and not net.training  # restored
