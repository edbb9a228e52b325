"""Frame-folder datasets: list files, segment and dense sampling, flips, bad lines named."""

from pathlib import Path

import numpy as np
import pytest
import torch
from clip_files import GREY_STEP, frame_numbers, write_frame_folder
from torch.utils.data import DataLoader

from blvprof.data import DataBundle, DataError, build_datasets, parse_data_spec
from blvprof.data.clips import ClipRecord
from blvprof.data.frames import read_frame_folder

NUM_FRAMES, SIZE = 4, 16


def make_root(root: Path, train: str, val: str = "c 1 12 1\n") -> Path:
    """Folders clips/a (12 PNG frames), clips/b (10 JPG frames) and c (12 PNG frames)."""
    write_frame_folder(root / "clips" / "a", 12)
    write_frame_folder(root / "clips" / "b", 10, ".jpg")
    write_frame_folder(root / "c", 12)
    (root / "train.txt").write_text(train)
    (root / "val.txt").write_text(val)
    return root


def build(root: Path, options: str = "", **kwargs: bool) -> DataBundle:
    spec = parse_data_spec(f"frames:{root}{options}")
    return build_datasets(spec, NUM_FRAMES, SIZE, **kwargs)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    train = "clips/a 1 12 0\n\n# a comment\nclips/b;3;10;2\n"
    return make_root(tmp_path, train)


def test_bundle_of_frame_folders(root: Path) -> None:
    bundle = build(root)
    assert (len(bundle.train), len(bundle.val)) == (2, 1)
    assert bundle.num_classes == 3 and bundle.class_names == ["0", "1", "2"]
    assert bundle.reversed_pairs == []


def test_flip_is_off_unless_asked_for(root: Path) -> None:
    """A list file cannot say whether its classes survive a mirror, so flipping is opt-in."""
    default, flipped = build(root), build(root, ",flip=1")
    assert not default.flip_allowed and not default.train.options.flip_allowed
    assert flipped.flip_allowed and flipped.train.options.flip_allowed
    assert not build(root, ",flip=0").flip_allowed


def test_eval_reads_segment_centres(root: Path) -> None:
    clip, label = build(root).val[0]
    assert clip.shape == (3, NUM_FRAMES, SIZE, SIZE) and clip.dtype == torch.float32
    assert label == 1
    assert frame_numbers(clip) == [2, 5, 8, 11]  # centres 1, 4, 7, 10 of 12 frames, numbered from 1


def test_train_reads_one_frame_per_segment(root: Path) -> None:
    dataset = build(root).train
    torch.manual_seed(0)
    for _ in range(10):
        clip, label = dataset[1]  # frames 3..10: segments {3,4} {5,6} {7,8} {9,10}
        assert label == 2
        numbers = frame_numbers(clip)
        assert all(3 + 2 * k <= number <= 4 + 2 * k for k, number in enumerate(numbers))


def test_dense_sampling(root: Path) -> None:
    clip, _ = build(root, ",stride=3", dense=True).val[0]
    assert frame_numbers(clip) == [2, 5, 8, 11]  # span 10 of 12 → start at index 1, stride 3


def test_read_frame_folder_reads_chosen_frames(root: Path) -> None:
    record = ClipRecord(root / "clips" / "a", 0, 1, 12)
    frames = read_frame_folder(record, lambda count: np.array([0, 11, 11]))
    assert frames.shape == (3, 24, 32, 3) and frames.dtype == np.uint8
    assert frames[:, 0, 0, 0].tolist() == [GREY_STEP, 12 * GREY_STEP, 12 * GREY_STEP]


def test_classes_file_names_classes_and_bounds_labels(root: Path) -> None:
    (root / "classes.txt").write_text("push\npull\nlift\nturn\n")
    bundle = build(root)
    assert bundle.num_classes == 4 and bundle.class_names == ["push", "pull", "lift", "turn"]
    (root / "classes.txt").write_text("push\npull\n")
    with pytest.raises(DataError) as caught:
        build(root)
    assert str(caught.value).startswith(f"{root / 'train.txt'}:4: label 2 out of range")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("clips/a 1 12", "train.txt:2: expected 4 fields (path start end label), got 3"),
        ("clips/a one 12 0", "train.txt:2: start must be an integer, got 'one'"),
        ("clips/a 1 12 x", "train.txt:2: label must be an integer, got 'x'"),
        ("clips/a 5 2 0", "train.txt:2: frame range 5..2 is empty or negative"),
        ("clips/a 1 12 -1", "train.txt:2: label -1 must not be negative"),
    ],
)
def test_bad_lines_name_file_path_and_line(tmp_path: Path, line: str, message: str) -> None:
    root = make_root(tmp_path, f"clips/a 1 12 0\n{line}\n")
    with pytest.raises(DataError) as caught:
        build(root)
    assert str(caught.value) == f"{root}/{message}"


@pytest.mark.parametrize(
    ("options", "message"),
    [(",flip=2", "flip=2: must be 0 or 1"), (",stride=0", "stride=0: must be at least 1")],
)
def test_bad_options(root: Path, options: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        build(root, options)


def test_bad_clip_shape(root: Path) -> None:
    with pytest.raises(DataError, match="num_frames=0"):
        build_datasets(parse_data_spec(f"frames:{root}"), 0, SIZE)


def test_missing_list_file(root: Path) -> None:
    (root / "val.txt").unlink()
    with pytest.raises(DataError, match=r"val.txt: file not found"):
        build(root)


def test_missing_folder(tmp_path: Path) -> None:
    root = make_root(tmp_path, "clips/a 1 12 0\nclips/gone 1 12 2\n")
    with pytest.raises(DataError, match=r"train.txt:2: not found: .*clips/gone"):
        build(root)
    bundle = build(root, skip_bad=True)
    assert bundle.bad_samples() == 1
    assert [bundle.train[i][1] for i in range(2)] == [0, 0]  # never the missing folder's label


def test_missing_frame_file(tmp_path: Path) -> None:
    root = make_root(tmp_path, "clips/a 1 40 0\n")
    with pytest.raises(DataError, match=r"missing frame .*clips/a/000\d\d.jpg \(or .png\)"):
        build(root).train[0]


def corrupt_root(tmp_path: Path, val: str) -> Path:
    """A root whose folder b has a truncated frame 6, which eval sampling of b reads."""
    root = make_root(tmp_path, "clips/a 1 12 0\n", val)
    path = root / "clips" / "b" / "00006.jpg"
    path.write_bytes(path.read_bytes()[:40])
    return root


def test_corrupt_image_raises_naming_the_file(tmp_path: Path) -> None:
    root = corrupt_root(tmp_path, "clips/b 3 10 2\nc 1 12 1\n")
    with pytest.raises(DataError, match=r"unreadable image .*clips/b/00006.jpg"):
        build(root).val[0]  # frames 4, 6, 8, 10


def test_corrupt_image_skipped_and_counted(tmp_path: Path) -> None:
    root = corrupt_root(tmp_path, "clips/b 3 10 2\nc 1 12 1\n")
    bundle = build(root, skip_bad=True)
    assert bundle.val[0][1] == 1  # the next readable sample, with its own label
    assert bundle.val[0][1] == 1
    assert bundle.bad_samples() == 1  # counted once, not once per read


def test_bad_samples_counted_across_workers(tmp_path: Path) -> None:
    root = corrupt_root(tmp_path, "clips/b 3 10 2\nc 1 12 1\nclips/b 3 10 0\n")
    bundle = build(root, skip_bad=True)
    loader = DataLoader(bundle.val, batch_size=1, num_workers=2)
    assert [int(label) for _, label in loader] == [1, 1, 1]
    assert bundle.bad_samples() == 2
