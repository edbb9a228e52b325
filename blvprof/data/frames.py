"""Frame folders in the TSN / bLVNet-TAM convention.

ROOT holds ``train.txt`` and ``val.txt``; each line is ``folder start end label`` (whitespace- or
``;``-separated; ``;`` allows spaces in the folder name), where the folder, relative to ROOT, holds
frames ``00001.jpg`` (or ``.png``) and ``start``..``end`` is the inclusive range of frame numbers.
An optional ``ROOT/classes.txt`` names the classes, one per line.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from blvprof.data.clips import ClipRecord, FrameChooser, ListEntry
from blvprof.data.labels import (
    class_index,
    numbered_lines,
    parse_int,
    parse_label,
    read_class_names,
    require_entries,
    resolve_class_names,
)
from blvprof.data.spec import DataError, one_line

TRAIN_LIST, VAL_LIST = "train.txt", "val.txt"
FRAME_SUFFIXES = (".jpg", ".png")


def split_fields(line: str) -> list[str]:
    return [field.strip() for field in line.split(";")] if ";" in line else line.split()


def parse_frame_list(path: Path, root: Path, classes: dict[str, int] | None) -> list[ListEntry]:
    """One entry per line of a TSN list file."""
    entries = []
    for number, line in numbered_lines(path):
        where = f"{path}:{number}"
        fields = split_fields(line)
        if len(fields) != 4:
            raise DataError(f"{where}: expected 4 fields (path start end label), got {len(fields)}")
        folder, start_text, end_text, label_text = fields
        start, end = parse_int(start_text, where, "start"), parse_int(end_text, where, "end")
        if not 0 <= start <= end:
            raise DataError(f"{where}: frame range {start}..{end} is empty or negative")
        label = parse_label(label_text, where, classes)
        entries.append(ListEntry(where, ClipRecord(root / folder, label, start, end - start + 1)))
    return require_entries(path, entries)


def frame_lists(root: Path) -> tuple[list[ListEntry], list[ListEntry], list[str]]:
    """The train and val entries under ROOT and the class names."""
    names = read_class_names(root)
    classes = class_index(names)
    train = parse_frame_list(root / TRAIN_LIST, root, classes)
    val = parse_frame_list(root / VAL_LIST, root, classes)
    return train, val, resolve_class_names([train, val], names)


def read_image(folder: Path, number: int) -> np.ndarray:
    """Frame ``number`` of ``folder`` as uint8 (H, W, 3)."""
    for suffix in FRAME_SUFFIXES:
        path = folder / f"{number:05d}{suffix}"
        try:
            with Image.open(path) as image:
                return np.asarray(image.convert("RGB"))
        except FileNotFoundError:
            continue
        except (OSError, ValueError, SyntaxError) as error:  # PIL's ways of saying "corrupt"
            raise DataError(f"unreadable image {path}: {one_line(error)}") from error
    raise DataError(f"missing frame {folder / f'{number:05d}'}.jpg (or .png)")


def read_frame_folder(record: ClipRecord, choose: FrameChooser) -> np.ndarray:
    """The chosen frames of a folder as uint8 (T, H, W, 3); each file is read once."""
    assert record.frame_count is not None, "frame folder records list their frame count"
    indices = [int(i) for i in choose(record.frame_count)]
    images = {i: read_image(record.source, record.first_frame + i) for i in sorted(set(indices))}
    if len({image.shape for image in images.values()}) > 1:
        raise DataError(f"frames of {record.source} differ in size")
    return np.stack([images[i] for i in indices])
