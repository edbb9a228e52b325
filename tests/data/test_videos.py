"""Video datasets: decoding chosen frames, CSV and Something-Something JSON lists, errors."""

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from clip_files import frame_numbers, write_video

from blvprof.data import DataBundle, DataError, build_datasets, parse_data_spec
from blvprof.data.clips import ClipDataset, ClipRecord
from blvprof.data.videos import read_video

pytest.importorskip("av")  # the optional [video] extra

NUM_FRAMES, SIZE = 4, 16

LABELS = {"Moving something from left to right": "0", "Pushing something": "1"}


def build(root: Path, options: str = "", **kwargs: bool) -> DataBundle:
    return build_datasets(parse_data_spec(f"videos:{root}{options}"), NUM_FRAMES, SIZE, **kwargs)


@pytest.fixture
def csv_root(tmp_path: Path) -> Path:
    write_video(tmp_path / "clips" / "one.mp4")
    write_video(tmp_path / "clips" / "two.mp4", 8)
    (tmp_path / "classes.txt").write_text("wave\njump\n")
    (tmp_path / "train.csv").write_text("clips/one.mp4,jump\n\nclips/two.mp4,0\n")
    (tmp_path / "val.csv").write_text("clips/two.mp4,1\n")
    return tmp_path


def test_decode_chosen_frames(csv_root: Path) -> None:
    record = ClipRecord(csv_root / "clips" / "one.mp4", 0)
    counts: list[int] = []

    def choose(count: int) -> np.ndarray:
        counts.append(count)
        return np.array([0, 5, 11])

    frames = read_video(record, choose)
    assert counts == [12]
    assert frames.shape == (3, 24, 32, 3) and frames.dtype == np.uint8
    assert np.abs(frames.mean(axis=(1, 2, 3)) - [20, 120, 240]).max() < 6


def test_csv_lists_with_class_names(csv_root: Path) -> None:
    bundle = build(csv_root)
    assert bundle.class_names == ["wave", "jump"] and bundle.num_classes == 2
    assert [bundle.train[i][1] for i in range(2)] == [1, 0]
    clip, label = bundle.val[0]
    assert clip.shape == (3, NUM_FRAMES, SIZE, SIZE) and label == 1
    assert frame_numbers(clip) == [2, 4, 6, 8]  # centres 1, 3, 5, 7 of 8 frames


def test_csv_without_classes_file(csv_root: Path) -> None:
    (csv_root / "classes.txt").unlink()
    (csv_root / "train.csv").write_text("clips/one.mp4,4\n")
    assert build(csv_root).class_names == ["0", "1", "2", "3", "4"]


def test_csv_errors(csv_root: Path) -> None:
    (csv_root / "train.csv").write_text("clips/one.mp4,1\nclips/two.mp4\n")
    listed = re.escape(str(csv_root / "train.csv"))
    with pytest.raises(DataError, match=rf"^{listed}:2: expected 2 fields \(path,label\), got 1$"):
        build(csv_root)
    (csv_root / "train.csv").write_text("clips/one.mp4,swim\n")
    with pytest.raises(DataError, match=rf"^{listed}:1: unknown class 'swim'"):
        build(csv_root)
    (csv_root / "train.csv").write_text("clips/gone.mp4,1\n")
    with pytest.raises(DataError, match=rf"^{listed}:1: not found: .*clips/gone.mp4$"):
        build(csv_root)


def test_no_label_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"expected train.csv and val.csv, or train.json"):
        build(tmp_path)


@pytest.fixture
def json_root(tmp_path: Path) -> Path:
    write_video(tmp_path / "videos" / "101.webm")
    write_video(tmp_path / "videos" / "102.mp4", 8)
    train = [
        {"id": "101", "template": "Moving [something] from left to right"},
        {"id": "102", "template": "Pushing [something]"},
    ]
    (tmp_path / "train.json").write_text(json.dumps(train))
    (tmp_path / "validation.json").write_text(json.dumps(train[1:]))
    (tmp_path / "labels.json").write_text(json.dumps(LABELS))
    return tmp_path


def test_something_something_json(json_root: Path) -> None:
    bundle = build(json_root)
    assert bundle.class_names == list(LABELS) and bundle.num_classes == 2
    assert isinstance(bundle.train, ClipDataset)
    assert [record.source.name for record in bundle.train.records] == ["101.webm", "102.mp4"]
    clip, label = bundle.train[0]
    assert clip.shape == (3, NUM_FRAMES, SIZE, SIZE) and label == 0
    assert bundle.val[0][1] == 1


def test_something_something_is_never_flipped_by_default(json_root: Path) -> None:
    """Mirrored, "moving something from left to right" is the other class: no silent flip."""
    assert not build(json_root).flip_allowed
    assert not build(json_root).train.options.flip_allowed
    assert build(json_root, ",flip=1").flip_allowed  # still the user's explicit choice


def test_json_errors(json_root: Path) -> None:
    listed = re.escape(str(json_root / "validation.json"))
    (json_root / "validation.json").write_text('[{"id": "101", "template": "Juggling"}]')
    with pytest.raises(DataError, match=rf"^{listed}\[0\]: template 'Juggling' is not in"):
        build(json_root)
    (json_root / "validation.json").write_text('[{"id": "101",\n "template": }]')
    with pytest.raises(DataError, match=rf"^{listed}:2: invalid JSON"):
        build(json_root)
    (json_root / "validation.json").write_text('[{"id": "999", "template": "Pushing something"}]')
    with pytest.raises(DataError, match=rf"^{listed}\[0\]: not found: .*videos/999.webm$"):
        build(json_root)


def test_corrupt_video(csv_root: Path) -> None:
    (csv_root / "clips" / "bad.mp4").write_bytes(b"\x00not a video" * 50)
    (csv_root / "val.csv").write_text("clips/bad.mp4,0\nclips/two.mp4,1\n")
    with pytest.raises(DataError, match=r"^unreadable video .*clips/bad.mp4: "):
        build(csv_root).val[0]
    bundle = build(csv_root, skip_bad=True)
    assert bundle.val[0][1] == 1
    assert bundle.bad_samples() == 1


def test_missing_pyav_is_explained(csv_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # makes `import av` raise ImportError
    with pytest.raises(DataError, match=r'pip install "blvprof\[video\]"'):
        build(csv_root)
