"""From a data spec to the train and val datasets a run needs."""

from dataclasses import dataclass

from blvprof.data.clips import ClipDataset, ClipOptions, ClipReader, ClipSet
from blvprof.data.frames import frame_lists, read_frame_folder
from blvprof.data.sampling import FrameSampling
from blvprof.data.spec import DataError, DataSpec
from blvprof.data.synthetic import (
    SyntheticConfig,
    SyntheticDataset,
    class_names,
    reversed_pairs,
)
from blvprof.data.videos import import_av, read_video, video_lists


@dataclass(frozen=True)
class DataBundle:
    train: ClipSet
    val: ClipSet
    num_classes: int
    class_names: list[str]
    reversed_pairs: list[tuple[int, int]]  # (label, its time-reversed label); empty for real data
    flip_allowed: bool  # whether training clips are randomly flipped left-right (off by default)
    benchmark: str  # what the clips are: "synthetic-v2", "frames" or "videos"; runs record it

    def bad_samples(self) -> int:
        """Unreadable samples skipped so far in both splits (only with ``skip_bad``)."""
        return self.train.bad_samples() + self.val.bad_samples()


def build_datasets(
    spec: DataSpec,
    num_frames: int,
    size: int,
    *,
    seed: int = 0,
    dense: bool = False,
    skip_bad: bool = False,
) -> DataBundle:
    """Train and val datasets of clips (3, num_frames, size, size).

    ``seed`` seeds the synthetic generator unless the spec sets one; training randomness on real
    data comes from torch's RNG. ``dense`` picks strided instead of segment sampling (real data).
    """
    if num_frames < 1 or size < 1:
        raise DataError(f"num_frames={num_frames} and size={size} must both be at least 1")
    if spec.kind == "synthetic":
        return _synthetic_bundle(spec, num_frames, size, seed)
    return _real_bundle(
        spec, FrameSampling(num_frames, dense, spec.int_option("stride", 2)), size, skip_bad
    )


def _real_bundle(spec: DataSpec, sampling: FrameSampling, size: int, skip_bad: bool) -> DataBundle:
    # Off unless asked for: a list file does not say whether its classes are direction-sensitive
    # ("pushing left to right"), and a flipped clip that keeps its label is a silent wrong label.
    flip = spec.int_option("flip", 0)
    if flip not in (0, 1):
        raise DataError(f"data option flip={flip}: must be 0 or 1")
    if sampling.stride < 1:
        raise DataError(f"data option stride={sampling.stride}: must be at least 1")
    assert spec.root is not None, "parse_data_spec gives real datasets a root"
    reader: ClipReader
    if spec.kind == "frames":
        train, val, names = frame_lists(spec.root)
        reader = read_frame_folder
    else:
        import_av()  # fail now rather than in the first batch
        train, val, names = video_lists(spec.root)
        reader = read_video
    return DataBundle(
        train=ClipDataset(
            "train", train, reader, ClipOptions(sampling, size, True, flip == 1, skip_bad)
        ),
        val=ClipDataset(
            "val", val, reader, ClipOptions(sampling, size, False, flip == 1, skip_bad)
        ),
        num_classes=len(names),
        class_names=names,
        reversed_pairs=[],
        flip_allowed=flip == 1,
        benchmark=spec.kind,
    )


def _synthetic_bundle(spec: DataSpec, num_frames: int, size: int, seed: int) -> DataBundle:
    config = SyntheticConfig(
        classes=spec.int_option("classes", SyntheticConfig.classes),
        samples=spec.int_option("samples", SyntheticConfig.samples),
        val=spec.int_option("val", 0) if "val" in spec.options else None,
        seed=spec.int_option("seed", seed),
        version=spec.int_option("version", SyntheticConfig.version),
    )
    return DataBundle(
        train=SyntheticDataset(config, "train", num_frames, size),
        val=SyntheticDataset(config, "val", num_frames, size),
        num_classes=config.classes,
        class_names=class_names(config.classes),
        reversed_pairs=reversed_pairs(config.classes),
        flip_allowed=False,  # a flip would turn move_left into move_right
        benchmark=config.benchmark,
    )
