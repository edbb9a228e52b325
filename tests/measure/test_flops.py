"""FLOP counting: hand-computed toy answers, and fvcore vs FlopCounterMode over the registry."""

import pytest
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils.flop_counter import FlopCounterMode

import model as zoo
from blvprof.measure.flops import conv_backward_flop, count_flops, count_macs
from model.temporal import TAM, TemporalShift
from tests.tiny import tiny_overrides


def test_single_conv_macs_by_hand() -> None:
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)  # 8 outputs × 3·3·3 taps × 5·5 positions
    assert count_macs(conv, (1, 3, 5, 5)).macs == 8 * 27 * 25


def test_tam_macs_are_r_c_h_w_per_frame() -> None:
    frames, channels, side, kernel = 4, 6, 5, 3
    count = count_macs(TAM(channels, frames, kernel), (frames, channels, side, side))
    assert count.macs == frames * kernel * channels * side * side


def test_temporal_shift_costs_zero_macs() -> None:
    assert count_macs(TemporalShift(4), (4, 16, 3, 3)).macs == 0


def test_depthwise_conv_training_flops_by_hand() -> None:
    # Forward: 8 channels × 9 taps × 16 positions = 1152 MACs = 2304 FLOPs. The input needs no
    # gradient, so backward is the weight gradient alone: again 1152 MACs. torch 2.13's own formula
    # would count it 8 (= groups) times.
    counted = count_flops(lambda: nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), (1, 8, 4, 4))
    assert counted.forward_flops == 2304
    assert counted.backward_flops == 2304
    assert counted.train_flops == 4608


def test_dense_conv_backward_counts_input_and_weight_gradients() -> None:
    def build() -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.Conv2d(4, 4, 1, bias=False))

    counted = count_flops(build, (1, 3, 2, 2))
    first, second = 3 * 4 * 4, 4 * 4 * 4  # MACs of each conv on 2×2 positions
    assert counted.forward_flops == 2 * (first + second)
    # the first conv needs only its weight gradient; the second both gradients
    assert counted.backward_flops == 2 * (first + 2 * second)


@pytest.mark.parametrize("name", zoo.list_models())
def test_flop_counter_forward_is_twice_fvcore_macs(name: str) -> None:
    overrides = tiny_overrides(name)
    net = zoo.create_model(name, **overrides)
    shape = net.input_spec.shape(1)
    macs = count_macs(net, shape)
    counted = count_flops(lambda: zoo.create_model(name, **overrides), shape)
    assert macs.macs > 0
    assert counted.forward_flops == 2 * macs.macs
    assert counted.train_flops > 2 * counted.forward_flops  # backward costs about twice forward


@pytest.mark.parametrize("name", zoo.list_models())
def test_the_counter_counts_what_flopcountermode_counts(name: str) -> None:
    overrides = tiny_overrides(name)
    with FakeTensorMode():
        net = zoo.create_model(name, **overrides).train()
        clip = torch.zeros(net.input_spec.shape(2))
        reference = FlopCounterMode(display=False, custom_mapping={
            torch.ops.aten.convolution_backward: conv_backward_flop})
        with reference:
            logits = net(clip)
            forward = {str(k): v for k, v in reference.get_flop_counts()["Global"].items()}
            logits.sum().backward()
    counted = count_flops(lambda: zoo.create_model(name, **overrides), tuple(clip.shape))
    assert counted.by_operator == forward  # the same ops, in the same order
    assert counted.forward_flops == sum(forward.values())
    assert counted.train_flops == reference.get_total_flops()


def test_count_macs_restores_training_mode() -> None:
    net = zoo.create_model("tsn", **tiny_overrides("tsn")).train()
    count_macs(net, net.input_spec.shape(1))
    assert net.training


def test_unsupported_ops_are_reported_not_dropped() -> None:
    net = zoo.create_model("tsm", **tiny_overrides("tsm"))
    count = count_macs(net, net.input_spec.shape(1))
    assert "aten::max_pool2d" in count.unsupported_ops
    assert count.fvcore_macs >= count.macs


def test_by_module_breakdown_sums_to_total() -> None:
    net = zoo.create_model("blvnet_tam", **tiny_overrides("blvnet_tam"))
    count = count_macs(net, net.input_spec.shape(1), by_module_depth=1)
    top = {k: v for k, v in count.by_module.items() if k != "(model)"}
    assert count.by_module["(model)"] == count.macs
    assert sum(top.values()) == count.macs
    assert {"layer1", "layer4", "fc"} <= set(top)
    assert torch.tensor(list(top.values())).min() >= 0
