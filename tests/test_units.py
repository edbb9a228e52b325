"""Byte sizes in text, both ways, checked by hand."""

import pytest

from blvprof import units


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


def test_format_bytes() -> None:
    assert units.format_bytes(1.5 * 2**30) == "1.50 GiB"
    assert units.format_bytes(752 * 2**20) == "752 MiB"
    assert units.format_bytes(2048) == "2 KiB"
