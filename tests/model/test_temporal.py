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
