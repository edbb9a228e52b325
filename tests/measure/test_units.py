"""Every unit conversion, checked by hand."""

import pytest

from blvprof.measure import units


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("16GiB", 16 * 2**30),
        ("12 GiB", 12 * 2**30),
        ("16GB", 16 * 10**9),
        ("512MiB", 512 * 2**20),
        ("1.5GiB", 3 * 2**29),
        ("1024", 1024),
        ("2g", 2 * 2**30),
        ("100mb", 10**8),
    ],
)
def test_parse_bytes(text: str, expected: int) -> None:
    assert units.parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "GiB", "12XB", "-1GiB", "0", "1e3GB", "twelve"])
def test_parse_bytes_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        units.parse_bytes(text)


def test_bytes_gib_round_trip() -> None:
    assert units.bytes_to_gib(3 * 2**30) == 3.0
    assert units.gib_to_bytes(1.5) == 3 * 2**29
    assert units.bytes_to_mib(2**21) == 2.0


def test_seconds_and_ms() -> None:
    assert units.seconds_to_ms(0.25) == 250.0
    assert units.ms_to_seconds(250.0) == 0.25


def test_macs_and_flops() -> None:
    assert units.macs_to_flops(23_851_302_912) == 47_702_605_824
    assert units.flops_to_macs(10) == 5
    with pytest.raises(ValueError):
        units.flops_to_macs(3)


def test_per_clip_and_per_frame() -> None:
    assert units.per_frame(32e9, 16) == 2e9
    assert units.per_clip(2e9, 16) == 32e9
    with pytest.raises(ValueError):
        units.per_frame(1.0, 0)


def test_format_bytes() -> None:
    assert units.format_bytes(1.5 * 2**30) == "1.50 GiB"
    assert units.format_bytes(752 * 2**20) == "752 MiB"
    assert units.format_bytes(2048) == "2 KiB"
