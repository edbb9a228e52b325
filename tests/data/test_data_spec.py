"""Data specs (synthetic[:...], frames:ROOT, videos:ROOT): their forms, and one-line errors."""

from pathlib import Path

import pytest

from blvprof.data import DataError, DataSpec, parse_data_spec


def test_synthetic_forms() -> None:
    assert parse_data_spec("synthetic") == DataSpec("synthetic", None, {})
    spec = parse_data_spec("synthetic:classes=4, samples=40,seed=3")
    assert spec.options == {"classes": "4", "samples": "40", "seed": "3"}
    assert spec.int_option("classes", 10) == 4
    assert parse_data_spec("synthetic").int_option("classes", 10) == 10


def test_real_forms(tmp_path: Path) -> None:
    assert parse_data_spec(f"frames:{tmp_path}") == DataSpec("frames", tmp_path, {})
    spec = parse_data_spec(f"videos:{tmp_path},flip=0")
    assert (spec.kind, spec.root, spec.options) == ("videos", tmp_path, {"flip": "0"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("images:/data", "unknown kind 'images'"),
        ("frames", "frames needs a folder"),
        ("videos:", "videos needs a folder"),
        ("frames:/no/such/folder", "folder /no/such/folder does not exist"),
        ("synthetic:frames=8", "unknown synthetic option 'frames'"),
        ("synthetic:classes=ten", "option classes must be an integer, got ten"),
        ("synthetic:seed", "option seed must be an integer, got (missing)"),
    ],
)
def test_errors_name_the_problem(text: str, expected: str) -> None:
    with pytest.raises(DataError) as caught:
        parse_data_spec(text)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_unknown_real_option(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown frames option 'crop'"):
        parse_data_spec(f"frames:{tmp_path},crop=1")


def test_data_error_is_a_value_error() -> None:
    assert issubclass(DataError, ValueError)
