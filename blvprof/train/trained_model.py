"""What a run trains: a zoo model or a model reference, built for the run's data and clip side.

Both train alike. The data gives the number of classes and the run's ``size`` the clip's side: a
zoo model takes them as its ``num_classes`` and ``image_size``. A reference
(``blvprof.external``) is given ``num_classes`` when its callable names that argument; one that
does not must return as many classes as the data has. Its clip (C, T, H, W) is the data's: RGB,
T frames (from the point's clip shape, else its ``num_frames`` argument or that argument's
default, else its declared ``input_spec``) and H = W = ``size``. The loader's (N, C, T, H, W)
clips reach it through ``external.LayoutAdapter``, the rearrangement it is profiled with.
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

import model as zoo
from blvprof import external
from blvprof.data import build_datasets, parse_data_spec
from blvprof.errors import UserError
from blvprof.report.summary import external_label
from blvprof.train.spec import TrainSpec

CLIP_CHANNELS = 3  # every data source yields RGB clips (blvprof.data)


@dataclass(frozen=True)
class TrainedModel:
    """A model ready to train: how to build it, and what records and checkpoints call it."""

    name: str  # the registered name, or the reference as written
    family: str  # the zoo family, or "external"
    config: dict[str, Any]  # the resolved config; a reference's {callable, arguments, source, ...}
    clip: external.ClipShape  # one training clip's (C, T, H, W)
    layout: str  # how the model takes the clip: ncthw for the zoo
    build: Callable[[], nn.Module]  # takes (N, C, T, H, W) clips; works under FakeTensorMode


def clip_frames(model_name: str, overrides: dict[str, Any]) -> int:
    """The frames per clip that the run's data is sampled at."""
    if not external.is_reference(model_name):
        return zoo.resolve_config(model_name, **overrides).num_frames
    arguments, clip, _ = external.split_point(overrides)
    return _reference_frames(model_name, arguments, clip)


def trained_model(model_name: str, overrides: dict[str, Any], size: int, classes: int
                  ) -> TrainedModel:
    """``model_name`` for ``classes`` classes and clips of side ``size``; a reference is built
    and run once on fake tensors first, so a layout it rejects or an output that is not
    (clips, classes) is one line before anything trains."""
    if external.is_reference(model_name):
        return _reference(model_name, overrides, size, classes)
    trained = _fixed(overrides, {"num_classes": classes, "image_size": size})
    config = zoo.resolve_config(model_name, **trained)
    return TrainedModel(
        name=model_name,
        family=zoo.get_entry(model_name).family,
        config=dataclasses.asdict(config),
        clip=(config.in_channels, config.num_frames, size, size),
        layout="ncthw",
        build=lambda: zoo.create_model(model_name, **trained),
    )


def profiled_overrides(model_name: str, overrides: dict[str, Any], record: dict[str, Any]
                       ) -> dict[str, Any]:
    """A trained study point as the overrides that profile the model that was trained (the
    data's classes, the trained clip): its cost goes next to its accuracy."""
    if not external.is_reference(model_name):
        return {**overrides, "image_size": record["size"], "num_classes": record["num_classes"]}
    config = record["config"]
    return {**config["arguments"], "input_shape": tuple(config["clip"]),
            "layout": config["layout"]}


def check_references(points: list[tuple[str, dict[str, Any]]],
                     recipes: list[dict[str, Any]]) -> None:
    """The model references of a training study, each built for each recipe's data and size on
    fake tensors: a point that would fail before its first step fails here, once, in one line,
    rather than in every run of it."""
    references = [(name, overrides) for name, overrides in points if external.is_reference(name)]
    if not references:
        return
    specs = {(s.data, s.size, s.skip_bad) for s in (TrainSpec(**r) for r in recipes)}
    for data, size, skip_bad in sorted(specs):
        # the classes do not depend on the frames: any count reads them
        classes = build_datasets(parse_data_spec(data), 1, size, skip_bad=skip_bad).num_classes
        for model_name, overrides in references:
            try:
                trained_model(model_name, overrides, size, classes)
            except UserError as error:
                raise UserError(f"training {model_name} on {data} at size {size}: {error}"
                                ) from None


def _fixed(overrides: dict[str, Any], fixed: dict[str, Any]) -> dict[str, Any]:
    """The overrides plus what the run fixes; a different value given for one is refused."""
    for key, value in fixed.items():
        if key in overrides and overrides[key] != value:
            source = "the data" if key == "num_classes" else "size"
            raise UserError(f"{key}={overrides[key]} conflicts with {source}, which gives {value}")
    return {**overrides, **fixed}


def _reference_frames(text: str, arguments: dict[str, Any],
                      clip: external.ClipShape | None) -> int:
    if clip is not None:
        return clip[1]
    defaults = external.signature_of(external.load_callable(text), text).defaults
    frames = arguments.get("num_frames", defaults.get("num_frames"))
    if isinstance(frames, int) and not isinstance(frames, bool) and frames > 0:
        return frames
    declared = external.declared_input_of(text, arguments)
    if declared is None:
        raise UserError(f"{text} has no num_frames argument and declares no input_spec: give "
                        "the frames per clip (--frames T, or input_shape in a study)")
    return declared[0][1]


def _reference(text: str, overrides: dict[str, Any], size: int, classes: int) -> TrainedModel:
    arguments, clip, layout = external.split_point(overrides)
    wanted = (CLIP_CHANNELS, _reference_frames(text, arguments, clip), size, size)
    if clip is not None and clip != wanted:
        raise UserError(f"input shape {_shape(clip)} conflicts with the run's clips "
                        f"{_shape(wanted)} ({CLIP_CHANNELS} channels, side = size)")
    if "num_classes" in external.signature_of(external.load_callable(text), text).types:
        arguments = _fixed(arguments, {"num_classes": classes})
    subject = external.prepare(text, arguments, wanted, layout)
    if subject.num_classes != classes:
        raise UserError(f"{external_label(subject.config)} returns {subject.num_classes} "
                        f"classes but the data has {classes}: give the callable a num_classes "
                        f"argument, or make it return {classes}")
    return TrainedModel(text, subject.family, subject.config, subject.clip, subject.layout,
                        subject.build)


def _shape(clip: tuple[int, ...]) -> str:
    return ",".join(map(str, clip))
