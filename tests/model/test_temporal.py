"""TAM and temporal shift: the fast ops against the formula and the official sequence."""

import pytest
import torch

from model.temporal import TAM, tam, tam_reference, temporal_shift, temporal_shift_reference


def tam_by_formula(x: torch.Tensor, weight: torch.Tensor, frames: int) -> torch.Tensor:
    """y_t = ReLU(sum_j w_j * x_{t+j}), zero outside the clip, written as plainly as possible."""
    nt, c, h, w = x.shape
    clip = x.view(-1, frames, c, h, w)
    r = weight.shape[1]
    out = torch.zeros_like(clip)
    for t in range(frames):
        for k in range(r):
            source = t + k - r // 2
            if 0 <= source < frames:
                out[:, t] += weight[:, k].view(c, 1, 1) * clip[:, source]
    return out.relu().view(nt, c, h, w)


@pytest.mark.parametrize("kernel", [1, 3, 5, 7])
def test_tam_matches_formula_and_reference(kernel: int) -> None:
    torch.manual_seed(kernel)
    x, weight = torch.randn(2 * 6, 4, 3, 5), torch.randn(4, kernel)
    expected = tam_by_formula(x, weight, 6)
    torch.testing.assert_close(tam(x, weight, 6), expected)
    torch.testing.assert_close(tam_reference(x, weight, 6), expected)


def test_tam_has_r_times_c_parameters() -> None:
    assert sum(p.numel() for p in TAM(64, num_frames=8, kernel=5).parameters()) == 5 * 64


def test_tam_does_not_mix_clips() -> None:
    x = torch.randn(2 * 4, 3, 2, 2)
    weight = torch.rand(3, 3) + 0.1
    y = tam(x, weight, 4)
    x2 = x.clone()
    x2[4:] = torch.randn(4, 3, 2, 2)  # change only the second clip
    torch.testing.assert_close(tam(x2, weight, 4)[:4], y[:4])


def test_temporal_shift_moves_one_eighth_each_way() -> None:
    frames, channels = 4, 16
    x = torch.arange(frames, dtype=torch.float).view(1, frames, 1, 1, 1)
    x = x.expand(1, frames, channels, 1, 1).reshape(frames, channels, 1, 1) + 1
    y = temporal_shift(x, frames, shift_div=8).view(frames, channels)
    assert y[:3, 0].tolist() == [2, 3, 4] and y[3, 0] == 0  # from the next frame
    assert y[0, 2] == 0 and y[1:, 2].tolist() == [1, 2, 3]  # from the previous frame
    torch.testing.assert_close(y[:, 4:], x.view(frames, channels)[:, 4:])  # the rest stays
    torch.testing.assert_close(temporal_shift_reference(x, frames), temporal_shift(x, frames))


# The GPU formulation of the TAM op (model.tam_op.tam_terms, compiled on CUDA) against the CPU op.
VARIANTS = [(1, False), (2, False), (2, True)]  # (period, duplicated): tam, tam_pairs, duplicated


def _op_outputs(x: torch.Tensor, weight: torch.Tensor, frames: int, period: int, dup: bool):
    from model import tam_op

    if period == 1:
        return [tam_op.tam_op(x, weight, frames)]
    odd, even = tam_op.tam_pairs_op(x, weight, frames, dup)
    return [even, odd]


def _variant_input(period: int, dup: bool, channels_last: bool, clips: int = 2, frames: int = 4):
    x = torch.randn(clips * frames * (1 if dup else period), 6, 5, 3)
    return x.to(memory_format=torch.channels_last) if channels_last else x


@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
@pytest.mark.parametrize("kernel", [1, 3, 5])
@pytest.mark.parametrize(("period", "dup"), VARIANTS)
def test_gpu_terms_match_the_cpu_op_both_ways(period, dup, kernel, channels_last) -> None:
    from model import tam_op

    torch.manual_seed(kernel)
    frames, x, weight = 4, _variant_input(period, dup, channels_last), torch.randn(6, kernel)
    expected = _op_outputs(x, weight, frames, period, dup)
    got = tam_op.tam_terms(x, weight, frames, period, dup)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)
        assert a.stride() == b.stride()  # laid out as the fake implementation says
    grads = [torch.randn_like(y) for y in expected]
    for input_grad in (True, False):
        want = tam_op.tam_backward(grads, x, weight, expected, frames, dup, input_grad)
        have = tam_op.tam_terms_backward(grads, x, weight, expected, frames, dup, input_grad)
        torch.testing.assert_close(have[1], want[1])
        torch.testing.assert_close(have[0], want[0])
        assert have[0].stride() == want[0].stride()


@pytest.mark.parametrize(("period", "dup"), VARIANTS)
def test_gpu_terms_differentiate_like_the_op(period: int, dup: bool) -> None:
    """What torch.compile traces on a GPU (the terms, differentiated by autograd) has the op's
    gradients."""
    from model import tam_op

    torch.manual_seed(period)
    frames, x, weight = 4, _variant_input(period, dup, False), torch.randn(6, 3)
    grads = None
    for run in (tam_op.tam_terms, lambda *a: _op_outputs(*a)):
        xi, wi = x.clone().requires_grad_(), weight.clone().requires_grad_()
        outs = run(xi, wi, frames, period, dup)
        sum(o.square().sum() * (i + 1) for i, o in enumerate(outs)).backward()
        if grads is None:
            grads = xi.grad, wi.grad
        else:
            torch.testing.assert_close(grads[0], xi.grad)
            torch.testing.assert_close(grads[1], wi.grad)


def _full_size_allocations(code: str, numel: int) -> int:
    """Buffers of at least ``numel`` elements that inductor's generated code allocates."""
    import math
    import re

    sizes = re.findall(r"empty_strided\w*\(\(([^)]*)\)", code)
    shapes = [[int(d) for d in size.split(",") if d.strip()] for size in sizes]
    return sum(math.prod(shape) >= numel for shape in shapes)


def test_compiled_terms_allocate_only_outputs_and_input_gradient() -> None:
    """The kernels the GPU runs, generated here for the CPU by the same inductor: forward and
    backward write no full-size buffer but the outputs and the input gradient (no masked
    gradient, no running sums), so the fake implementation (outputs only) is what they allocate.
    The variant with most terms: tam_pairs over channels-last maps."""
    from torch._inductor.utils import run_and_get_code

    from model import tam_op

    torch.manual_seed(0)
    frames, x, weight = 4, _variant_input(2, False, True), torch.randn(6, 3)
    static = {"frames": frames, "duplicated": False}
    outs, code = run_and_get_code(tam_op._compiled(tam_op.tam_terms, period=2, **static), x, weight)
    numel = outs[0].numel()
    assert _full_size_allocations("\n".join(code), numel) == 2  # the two output phases
    grads = [torch.randn_like(y) for y in outs]
    backward = tam_op._compiled(tam_op.tam_terms_backward, input_grad=True, **static)
    (grad_x, grad_w), code = run_and_get_code(backward, grads, x, weight, outs)
    assert _full_size_allocations("\n".join(code), numel) == 1  # the input gradient, 2 phases
    want = tam_op.tam_backward(grads, x, weight, outs, frames, False, True)
    torch.testing.assert_close(grad_x, want[0])
    torch.testing.assert_close(grad_w, want[1], rtol=1e-4, atol=1e-5)
    assert grad_x.stride() == want[0].stride()
