"""Datasets of real clips (frame folders or video files) sharing sampling, transforms and the
handling of unreadable samples.
"""

import multiprocessing
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import get_spawning_popen
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from blvprof.data.sampling import FrameSampling, sample_indices
from blvprof.data.spec import DataError
from blvprof.data.transforms import eval_clip, train_clip


class ClipSet(Dataset[tuple[torch.Tensor, int]], ABC):
    """A dataset of (clip (3, T, H, W) float32, label) pairs."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]: ...

    def bad_samples(self) -> int:
        """How many unreadable samples were skipped so far (none unless the set reads files)."""
        return 0


@dataclass(frozen=True)
class ClipRecord:
    source: Path  # a frame folder or a video file
    label: int
    first_frame: int = 0  # number in the file name of the first frame (frame folders only)
    frame_count: int | None = None  # frames listed for a folder; None for videos (decoding tells)


@dataclass(frozen=True)
class ListEntry:
    where: str  # the list file's path and line or entry, for messages: "ROOT/train.txt:12"
    record: ClipRecord


@dataclass(frozen=True)
class ClipOptions:
    sampling: FrameSampling
    size: int  # output height and width
    train: bool  # random sampling, multi-scale crop and flip; else centre frames and crop
    flip_allowed: bool = False  # random left-right flips (training only)
    skip_bad: bool = False  # replace unreadable samples by the next readable one


FrameChooser = Callable[[int], np.ndarray]  # frames available → indices of the frames to use
ClipReader = Callable[[ClipRecord, FrameChooser], np.ndarray]  # → uint8 frames (T, H, W, 3)


class BadSampleMarks:
    """One flag per sample, set once the sample proved unreadable.

    The flags live in shared memory and are shared with DataLoader worker processes, so marks made
    in a worker count in the main process too. Pickled in any other way, they are copied.
    """

    def __init__(self, flags: bytes):
        self._flags = multiprocessing.RawArray("b", flags)

    def __reduce__(self) -> tuple[object, ...]:
        if get_spawning_popen() is None:
            return (BadSampleMarks, (bytes(self._flags),))
        return (BadSampleMarks._shared, (self._flags,))

    @classmethod
    def _shared(cls, flags: object) -> "BadSampleMarks":
        marks = cls.__new__(cls)
        marks._flags = flags
        return marks

    def mark(self, index: int) -> None:
        self._flags[index] = 1

    def is_bad(self, index: int) -> bool:
        return bool(self._flags[index])

    def count(self) -> int:
        return int(np.frombuffer(self._flags, dtype=np.int8).sum())


def find_missing(entries: list[ListEntry], skip_bad: bool) -> list[int]:
    """Indices of entries whose folder or video does not exist; an error unless ``skip_bad``."""
    missing = [i for i, entry in enumerate(entries) if not entry.record.source.exists()]
    if missing and not skip_bad:
        entry = entries[missing[0]]
        raise DataError(f"{entry.where}: not found: {entry.record.source}")
    return missing


class ClipDataset(ClipSet):
    """Clips read by ``reader`` for each listed record, sampled and transformed per ``options``."""

    def __init__(
        self,
        name: str,
        entries: list[ListEntry],
        reader: ClipReader,
        options: ClipOptions,
    ):
        self.name = name
        self.records = [entry.record for entry in entries]
        self.reader = reader
        self.options = options
        flags = bytearray(len(entries))
        for index in find_missing(entries, options.skip_bad):
            flags[index] = 1
        self.marks = BadSampleMarks(bytes(flags))

    def __len__(self) -> int:
        return len(self.records)

    def bad_samples(self) -> int:
        """Distinct samples found unreadable so far, missing folders or videos included."""
        return self.marks.count()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        for step in range(len(self)):  # an unreadable sample gives way to the next readable one
            candidate = (index + step) % len(self)
            if self.marks.is_bad(candidate):
                continue
            try:
                return self.load(self.records[candidate]), self.records[candidate].label
            except DataError:
                if not self.options.skip_bad:
                    raise
                self.marks.mark(candidate)
        raise DataError(f"{self.name}: no readable sample left")

    def load(self, record: ClipRecord) -> torch.Tensor:
        """One clip (3, T, size, size) of ``record``; train randomness comes from torch's RNG."""
        options = self.options
        if not options.train:
            frames = self.reader(
                record, lambda count: sample_indices(count, options.sampling, None)
            )
            return eval_clip(frames, options.size)
        # Drawing the seed from torch makes torch.manual_seed and DataLoader worker seeding apply.
        rng = np.random.default_rng(int(torch.randint(2**62, ())))
        frames = self.reader(record, lambda count: sample_indices(count, options.sampling, rng))
        return train_clip(frames, options.size, options.flip_allowed, rng)
