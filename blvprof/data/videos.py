"""Video files decoded with PyAV, labelled by CSV lists or Something-Something-style JSON.

CSV: ``ROOT/train.csv`` and ``ROOT/val.csv``, lines ``relative/path.mp4,label`` where the label is
an index or a class name from ``ROOT/classes.txt``.
JSON (SS-V2): ``ROOT/train.json`` and ``ROOT/validation.json`` (lists of {"id", "template"}),
``ROOT/labels.json`` (template → index) and videos at ``ROOT/videos/{id}.webm`` (or ``.mp4``).
"""

import csv
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from blvprof.data.clips import ClipRecord, FrameChooser, ListEntry
from blvprof.data.labels import (
    class_index,
    parse_label,
    read_class_names,
    require_entries,
    require_file,
    resolve_class_names,
)
from blvprof.data.spec import DataError, one_line

CSV_LISTS = ("train.csv", "val.csv")
JSON_LISTS = ("train.json", "validation.json")
JSON_LABELS = "labels.json"
VIDEO_SUFFIXES = (".webm", ".mp4")


def import_av() -> ModuleType:
    """PyAV, imported only when videos are read."""
    try:
        import av
    except ImportError:
        raise DataError('videos need PyAV: pip install "blvprof[video]"') from None
    return av


def parse_csv_list(path: Path, root: Path, classes: dict[str, int] | None) -> list[ListEntry]:
    entries = []
    with require_file(path).open(newline="", encoding="utf-8") as lines:
        for number, row in enumerate(csv.reader(lines), start=1):
            if not row or not "".join(row).strip():
                continue
            where = f"{path}:{number}"
            if len(row) != 2:
                raise DataError(f"{where}: expected 2 fields (path,label), got {len(row)}")
            label = parse_label(row[1].strip(), where, classes)
            entries.append(ListEntry(where, ClipRecord(root / row[0].strip(), label)))
    return require_entries(path, entries)


def load_json(path: Path) -> Any:
    try:
        return json.loads(require_file(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DataError(f"{path}:{error.lineno}: invalid JSON: {error.msg}") from None


def read_json_labels(path: Path) -> list[str]:
    """Class names ordered by the indices that SS-V2's labels.json gives them."""
    labels = load_json(path)
    try:
        by_index = {int(index): name for name, index in labels.items()}
    except (AttributeError, TypeError, ValueError):
        raise DataError(f"{path}: expected an object of template → index") from None
    if sorted(by_index) != list(range(len(labels))):
        raise DataError(f"{path}: indices must be 0..{len(labels) - 1}, each once")
    return [by_index[index] for index in range(len(labels))]


def parse_json_list(
    path: Path, videos: Path, available: set[str], classes: dict[str, int]
) -> list[ListEntry]:
    """Entries of an SS-V2 list; ``available`` names the files in ``videos``; templates lose their
    brackets before the label lookup."""
    items = load_json(path)
    if not isinstance(items, list):
        raise DataError(f"{path}: expected a list of {{'id', 'template'}} objects")
    entries = []
    for position, item in enumerate(items):
        where = f"{path}[{position}]"
        if not isinstance(item, dict) or "id" not in item or "template" not in item:
            raise DataError(f"{where}: expected an object with 'id' and 'template'")
        template = str(item["template"]).replace("[", "").replace("]", "")
        if template not in classes:
            raise DataError(f"{where}: template {template!r} is not in {JSON_LABELS}")
        names = [f"{item['id']}{suffix}" for suffix in VIDEO_SUFFIXES]
        name = next((name for name in names if name in available), names[0])
        entries.append(ListEntry(where, ClipRecord(videos / name, classes[template])))
    return require_entries(path, entries)


def video_lists(root: Path) -> tuple[list[ListEntry], list[ListEntry], list[str]]:
    """The train and val entries under ROOT and the class names, from CSV or SS-V2 JSON lists."""
    has_csv, has_json = (root / CSV_LISTS[0]).exists(), (root / JSON_LISTS[0]).exists()
    if not has_csv and not has_json:
        raise DataError(
            f"{root}: expected {' and '.join(CSV_LISTS)}, or {', '.join(JSON_LISTS)}"
            f" and {JSON_LABELS}"
        )
    if has_json and not has_csv:
        names = read_json_labels(root / JSON_LABELS)
        classes = {name: label for label, name in enumerate(names)}
        videos = root / "videos"
        available = {item.name for item in videos.iterdir()} if videos.is_dir() else set()
        train, val = (
            parse_json_list(root / name, videos, available, classes) for name in JSON_LISTS
        )
        return train, val, names
    names_or_none = read_class_names(root)
    csv_classes = class_index(names_or_none)
    train, val = (parse_csv_list(root / name, root, csv_classes) for name in CSV_LISTS)
    return train, val, resolve_class_names([train, val], names_or_none)


def read_video(record: ClipRecord, choose: FrameChooser) -> np.ndarray:
    """The chosen frames of a video as uint8 (T, H, W, 3).

    Every frame is decoded (the count is only known after decoding) but only the chosen ones are
    converted to RGB; fine for the few-second clips of action datasets.
    """
    av = import_av()
    try:
        with av.open(str(record.source)) as container:
            frames = list(container.decode(video=0))
            indices = [int(i) for i in choose(len(frames))] if frames else []
            images = [frames[i].to_ndarray(format="rgb24") for i in indices]
    except (av.FFmpegError, OSError, ValueError, IndexError) as error:
        raise DataError(f"unreadable video {record.source}: {one_line(error)}") from error
    if not images:
        raise DataError(f"unreadable video {record.source}: no frames decoded")
    return np.stack(images)
