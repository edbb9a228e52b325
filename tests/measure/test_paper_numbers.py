"""Our models reproduce the paper's GMACs and parameters (224², conv+linear MACs, one clip).

Full-size counts use FlopCounterMode on fake tensors (no memory, no compute); the cross-check test
proves that count is exactly twice fvcore's conv+linear MACs, and one row is also counted by fvcore.
"""

import pytest

import model as zoo
from blvprof.measure.flops import count_flops, count_macs, parameter_count


def fake_macs(name: str, **overrides) -> int:
    shape = zoo.create_model(name, **overrides).input_spec.shape(1)
    return count_flops(lambda: zoo.create_model(name, **overrides), shape).forward_flops // 2


def params(name: str, **overrides) -> int:
    return parameter_count(zoo.create_model(name, **overrides))


# (depth, input frames, paper GMACs, paper params in millions or None), 174 classes.
PAPER_ROWS = [
    (50, 16, 23.8, 25.0),
    (50, 32, 47.7, None),
    (101, 16, 32.1, 40.2),
    (101, 32, 64.3, None),
    (101, 48, 96.4, None),
    (101, 64, 128.6, None),
]


@pytest.mark.parametrize(("depth", "frames", "gmacs", "mparams"), PAPER_ROWS)
def test_blvnet_tam_matches_paper_rows(depth: int, frames: int, gmacs: float, mparams) -> None:
    macs = fake_macs("blvnet_tam", depth=depth, num_frames=frames, num_classes=174)
    assert macs / 1e9 == pytest.approx(gmacs, rel=0.005)
    if mparams is not None:
        count = params("blvnet_tam", depth=depth, num_frames=frames, num_classes=174)
        assert count / 1e6 == pytest.approx(mparams, rel=0.005)


def test_fvcore_counts_the_paper_model_exactly_as_the_official_code() -> None:
    net = zoo.create_model("blvnet_tam", depth=50, num_frames=16, num_classes=174)
    count = count_macs(net, net.input_spec.shape(1))
    assert count.macs == 23_851_302_912  # the official implementation's conv+linear count
    assert parameter_count(net) == 25_020_142


@pytest.mark.parametrize(
    ("name", "macs", "n_params"),
    [("tsn", 32_698_515_456, 23_686_295), ("tam_resnet", 32_833_388_544, 23_725_655)],
)
def test_ibm_baselines_match_to_the_mac(name: str, macs: int, n_params: int) -> None:
    net = zoo.create_model(name, depth=50, num_frames=8, num_classes=87)
    assert count_macs(net, net.input_spec.shape(1)).macs == macs
    assert parameter_count(net) == n_params
