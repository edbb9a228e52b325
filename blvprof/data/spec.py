"""The ``--data`` spec: which dataset to read and how, parsed from one string.

Accepted forms: ``synthetic``, ``synthetic:classes=10,samples=2000,val=500,seed=0,version=2``,
``frames:ROOT`` and ``videos:ROOT``. Real datasets take options after the root:
``frames:ROOT,flip=1,stride=4`` (so ROOT cannot contain a comma).

``flip`` (random left-right flips of training clips) is off unless ``flip=1``, for every real
dataset. TSN flips Kinetics-style data by default, but the same frame-folder and CSV conventions
hold Something-Something, whose classes are direction-sensitive ("pushing something from left to
right"): a flipped clip would keep a label that is now wrong, and nothing would say so. A list file
cannot tell the two apart, so the default is the one that never mislabels; pass ``flip=1`` for
data whose labels survive a mirror (Kinetics, UCF-101). The run's record says which was used.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

DataKind = Literal["synthetic", "frames", "videos"]

# Every option is an integer; the values are range-checked where the dataset is built.
KNOWN_OPTIONS: dict[str, tuple[str, ...]] = {
    "synthetic": ("classes", "samples", "val", "seed", "version"),
    "frames": ("flip", "stride"),
    "videos": ("flip", "stride"),
}


class DataError(ValueError):
    """Bad data or a bad data spec; the message is one line naming the file, line or field."""


def one_line(error: BaseException) -> str:
    """An exception's message squeezed onto one line, for embedding in a DataError."""
    return " ".join(str(error).split()) or type(error).__name__


@dataclass(frozen=True)
class DataSpec:
    kind: DataKind
    root: Path | None = None  # the dataset folder; None for synthetic
    options: dict[str, str] = field(default_factory=dict)  # validated names, integer values

    def int_option(self, name: str, default: int) -> int:
        """The option's value, or ``default`` when the spec does not set it."""
        return int(self.options[name]) if name in self.options else default


def parse_data_spec(text: str) -> DataSpec:
    """Parse ``kind[:ROOT][,key=value...]``; raises DataError naming what is wrong."""
    kind, _, rest = text.strip().partition(":")
    if kind not in KNOWN_OPTIONS:
        raise DataError(
            f"data spec {text!r}: unknown kind {kind!r}; use one of {list(KNOWN_OPTIONS)}"
        )
    parts = [part.strip() for part in rest.split(",")] if rest else []
    root = None
    if kind != "synthetic":
        if not parts or not parts[0]:
            raise DataError(f"data spec {text!r}: {kind} needs a folder, as in {kind}:ROOT")
        root = Path(parts.pop(0)).expanduser()
        if not root.is_dir():
            raise DataError(f"data spec {text!r}: folder {root} does not exist")
    options = dict(_parse_option(text, kind, part) for part in parts if part)
    return DataSpec(cast(DataKind, kind), root, options)


def canonical_data_spec(text: str) -> str:
    """``text`` with the synthetic benchmark's version written out (``synthetic`` →
    ``synthetic:version=2``), so a run's spec and store key name the version that made its clips
    and rows of two versions never share a key. Other specs come back as they are."""
    from blvprof.data.synthetic import LATEST_VERSION

    kind, _, rest = text.strip().partition(":")
    if kind != "synthetic":
        return text
    names = [part.partition("=")[0].strip() for part in rest.split(",") if part.strip()]
    if "version" in names:
        return text.strip()
    return f"synthetic:{rest.strip()},version={LATEST_VERSION}" if names else (
        f"synthetic:version={LATEST_VERSION}"
    )


def _parse_option(text: str, kind: str, part: str) -> tuple[str, str]:
    name, equals, value = (piece.strip() for piece in part.partition("="))
    if name not in KNOWN_OPTIONS[kind]:
        known = ", ".join(KNOWN_OPTIONS[kind])
        raise DataError(f"data spec {text!r}: unknown {kind} option {name!r}; known: {known}")
    try:
        int(value)
    except ValueError:
        shown = value if equals else "(missing)"
        raise DataError(
            f"data spec {text!r}: option {name} must be an integer, got {shown}"
        ) from None
    return name, value
