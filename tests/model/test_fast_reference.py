"""The fast paths compute what the reference paths (the official operator sequence) compute.

Outputs and every parameter gradient agree within 1e-5 (max error over max magnitude, per tensor)
in fp32 with batch norm in eval mode. In training mode, batch norm over the 2×2 maps of these tiny
nets amplifies rounding differences (the pre-#6 fast path differed from the reference by up to 27 %
in one gradient there too), so training mode is checked in float64, where the two must agree to
1e-9. The fast TAM is a custom op; FLOP counters must see exactly the MACs of the convolution it
replaces, forward and backward.
"""

import pytest
import torch
from torch import nn

from blvprof.measure.flops import count_flops, count_macs
from model import create_model
from model.blvnet_tam import merge_pairs_reference, split_pairs_reference
from model.temporal import TAM, tam, tam_conv3d, tam_pairs, tam_reference
from tests.tiny import tiny_overrides

CASES = [
    ("blvnet_tam", {}),
    ("blvnet_tam", {"depth": 50, "alpha": 4, "beta": 1, "blending_frames": 5, "num_frames": 6}),
    ("blvnet_tam", {"alpha": 1, "beta": 2, "blending_frames": 1, "num_frames": 2}),
    ("blvnet_tam", {"blending_frames": 7, "num_frames": 8}),
    ("blvnet", {}),
    ("tam_resnet", {}),
    ("tam_resnet", {"depth": 50, "blending_frames": 5, "num_frames": 6}),
    ("tsm", {}),
    ("tsm", {"depth": 50, "shift_div": 4}),
]


def _case_id(case: tuple[str, dict]) -> str:
    name, changes = case
    return "-".join([name, *(f"{k}{v}" for k, v in changes.items())])


def _run(net: nn.Module, clip: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    logits = net(clip)
    logits.square().sum().backward()
    return logits.detach(), {n: p.grad for n, p in net.named_parameters()}


def _relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual - expected).abs().max() / expected.abs().max().clamp_min(1e-30)).item()


def _fast_and_reference(name: str, changes: dict, dtype: torch.dtype) -> tuple[nn.Module, ...]:
    overrides = tiny_overrides(name, **changes)
    torch.manual_seed(0)
    fast = create_model(name, **overrides).to(dtype)
    reference = create_model(name, **overrides, reference=True).to(dtype)
    reference.load_state_dict(fast.state_dict())
    return fast, reference


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_fast_matches_reference_in_fp32(case: tuple[str, dict]) -> None:
    fast, reference = (net.eval() for net in _fast_and_reference(*case, torch.float32))
    clip = torch.randn(fast.input_spec.shape(2))
    (fast_logits, fast_grads), (ref_logits, ref_grads) = _run(fast, clip), _run(reference, clip)
    assert _relative_error(fast_logits, ref_logits) < 1e-5
    errors = {n: _relative_error(fast_grads[n], ref_grads[n]) for n in ref_grads}
    assert max(errors.values()) < 1e-5, max(errors.items(), key=lambda item: item[1])


@pytest.mark.parametrize("case", CASES[:2] + CASES[5:6], ids=_case_id)
def test_fast_matches_reference_in_training_mode_float64(case: tuple[str, dict]) -> None:
    fast, reference = (net.train() for net in _fast_and_reference(*case, torch.float64))
    clip = torch.randn(fast.input_spec.shape(2), dtype=torch.float64)
    (fast_logits, fast_grads), (ref_logits, ref_grads) = _run(fast, clip), _run(reference, clip)
    assert _relative_error(fast_logits, ref_logits) < 1e-9
    assert max(_relative_error(fast_grads[n], ref_grads[n]) for n in ref_grads) < 1e-9


@pytest.mark.parametrize("name", ["blvnet_tam", "tam_resnet", "tsm", "tsn"])
def test_channels_last_computes_the_same(name: str) -> None:
    torch.manual_seed(0)
    net = create_model(name, **tiny_overrides(name)).eval()
    clip = torch.randn(net.input_spec.shape(2))
    logits, grads = _run(net, clip)
    net.zero_grad()
    net.to(memory_format=torch.channels_last)
    seen = []
    for module in net.modules():  # the temporal ops keep the layout they are given
        if isinstance(module, TAM):
            module.register_forward_hook(lambda m, args, out: seen.append(out))
    cl_logits, cl_grads = _run(net, clip)
    assert _relative_error(cl_logits, logits) < 1e-5
    assert max(_relative_error(cl_grads[n], grads[n]) for n in grads) < 1e-5
    for out in seen:
        maps = out if isinstance(out, torch.Tensor) else out[0]
        assert maps.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("kernel", [1, 3, 5, 7])
@pytest.mark.parametrize("pairs", [1, 2, 3])
@pytest.mark.parametrize("duplicated", [False, True], ids=["frames", "duplicated"])
def test_tam_pairs_is_the_official_merge_tam_split(kernel: int, pairs: int, duplicated: bool):
    torch.manual_seed(kernel * 10 + pairs)
    maps = 2 * pairs * (1 if duplicated else 2)  # two clips
    x = torch.randn(maps, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, kernel, dtype=torch.float64, requires_grad=True)

    def official(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        frames = merge_pairs_reference(x, pairs) if duplicated else x
        return torch.cat(split_pairs_reference(tam_reference(frames, weight, 2 * pairs), pairs))

    def fast(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return torch.cat(tam_pairs(x, weight, pairs, duplicated))

    torch.testing.assert_close(fast(x, weight), official(x, weight))
    torch.autograd.gradcheck(fast, (x, weight))


def test_tam_gradients_in_float64_and_when_only_the_weight_learns() -> None:
    x = torch.randn(2 * 5, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda a, b: tam(a, b, 5), (x, weight))
    torch.autograd.gradcheck(lambda b: tam(x.detach(), b, 5), (weight,))


class _Gained(nn.Module):
    """A per-channel gain (no MACs) before a temporal op, so the op's input needs a gradient."""

    def __init__(self, temporal: nn.Module, channels: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(channels, 1, 1))
        self.temporal = temporal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.temporal(x * self.gain)
        return torch.cat(out) if isinstance(out, tuple) else out


class _Pairs(nn.Module):
    def __init__(self, duplicated: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 3))
        self.duplicated = duplicated

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return tam_pairs(x, self.weight, 4, self.duplicated)


def _tam_module(op) -> nn.Module:
    module = TAM(6, num_frames=4, kernel=3)
    module.op = op
    return module


@pytest.mark.parametrize("op", [tam, tam_conv3d], ids=["custom_op", "conv3d"])
def test_flop_counter_sees_the_tam_as_its_convolution(op) -> None:
    shape = (2 * 4, 6, 5, 5)
    macs = 2 * 4 * 6 * 5 * 5 * 3  # r MACs per element of the maps
    alone = count_flops(lambda: _tam_module(op), shape)  # the input needs no gradient
    assert (alone.forward_flops, alone.backward_flops) == (2 * macs, 2 * macs)
    inside = count_flops(lambda: _Gained(_tam_module(op), 6), shape)
    assert (inside.forward_flops, inside.backward_flops) == (2 * macs, 2 * 2 * macs)


def test_flop_counter_counts_a_duplicated_tam_on_all_2t_frames() -> None:
    macs = 8 * 6 * 5 * 5 * 3  # a TAM over 2T = 8 frames per clip
    frames = count_flops(lambda: _Gained(_Pairs(False), 6), (8, 6, 5, 5))
    duplicated = count_flops(lambda: _Gained(_Pairs(True), 6), (4, 6, 5, 5))
    assert frames.forward_flops == duplicated.forward_flops == 2 * macs
    assert frames.backward_flops == duplicated.backward_flops == 2 * 2 * macs


def test_fvcore_counts_the_traced_tam_as_a_conv() -> None:
    count = count_macs(_tam_module(tam), (2 * 4, 6, 5, 5))
    assert count.by_operator["conv"] == 2 * 4 * 6 * 5 * 5 * 3
    assert not count.unsupported_ops
