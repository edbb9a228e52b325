"""Reading list files: numbered lines, integer fields, labels and the optional ``classes.txt``."""

from collections.abc import Iterator
from pathlib import Path

from blvprof.data.clips import ListEntry
from blvprof.data.spec import DataError, one_line

CLASSES_FILE = "classes.txt"


def require_file(path: Path) -> Path:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    return path


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, stripped text) of each line that is not blank or a ``#`` comment."""
    try:
        text = require_file(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read: {one_line(error)}") from error
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield number, stripped


def parse_int(text: str, where: str, field: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DataError(f"{where}: {field} must be an integer, got {text!r}") from None


def read_class_names(root: Path) -> list[str] | None:
    """The class names in ROOT/classes.txt, one per line, or None without that file."""
    path = root / CLASSES_FILE
    if not path.exists():
        return None
    return [line for _, line in numbered_lines(path)]


def class_index(class_names: list[str] | None) -> dict[str, int] | None:
    """Class name → label, for lists that name their classes."""
    return None if class_names is None else {name: i for i, name in enumerate(class_names)}


def parse_label(text: str, where: str, classes: dict[str, int] | None) -> int:
    """A label given as an index or, where classes.txt exists, as a class name (an integer is
    always read as an index)."""
    if classes is not None and not text.lstrip("-").isdigit():
        if text not in classes:
            raise DataError(f"{where}: unknown class {text!r} (not in {CLASSES_FILE})")
        return classes[text]
    label = parse_int(text, where, "label")
    if label < 0:
        raise DataError(f"{where}: label {label} must not be negative")
    if classes is not None and label >= len(classes):
        raise DataError(
            f"{where}: label {label} out of range: {CLASSES_FILE} lists {len(classes)} classes"
        )
    return label


def resolve_class_names(splits: list[list[ListEntry]], class_names: list[str] | None) -> list[str]:
    """The given class names, or "0".."N-1" for N = the largest label listed + 1."""
    if class_names is not None:
        return class_names
    largest = max(entry.record.label for entries in splits for entry in entries)
    return [str(label) for label in range(largest + 1)]


def require_entries(path: Path, entries: list[ListEntry]) -> list[ListEntry]:
    if not entries:
        raise DataError(f"{path}: lists no samples")
    return entries
