"""A tiny model registry: ``register``, ``create_model``, ``list_models``.

Every family has a frozen config dataclass; a registered name is a builder plus the config defaults
that make it that variant. Unknown names, unknown fields and values of the wrong type fail with a
one-line ``ValueError`` that names the problem.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import torch
from torch import nn

ConfigT = TypeVar("ConfigT")


def param(default: Any, help: str) -> Any:
    """A config field with a default and a one-line description (shown by ``blvprof models``)."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class InputSpec:
    """What a model expects: one clip tensor shaped (N, channels, num_frames, size, size)."""

    channels: int
    num_frames: int
    size: int

    def shape(self, batch: int = 1, size: int | None = None) -> tuple[int, int, int, int, int]:
        side = self.size if size is None else size
        return (batch, self.channels, self.num_frames, side, side)


def check_clip(x: torch.Tensor, spec: InputSpec) -> tuple[int, int, int, int, int]:
    """Shape of a clip after checking it against a model's input contract."""
    if x.dim() != 5:
        raise ValueError(f"expected a clip (N, C, T, H, W), got shape {tuple(x.shape)}")
    n, c, t, h, w = x.shape
    if t != spec.num_frames or c != spec.channels:
        raise ValueError(
            f"clip has C={c}, T={t}; this model was built for C={spec.channels}, "
            f"num_frames={spec.num_frames}"
        )
    return n, c, t, h, w


def check_common_fields(config: Any) -> None:
    """Validate the fields every family's config shares."""
    if config.num_frames < 1:
        raise ValueError(f"num_frames={config.num_frames} must be positive")
    if config.num_classes < 1:
        raise ValueError(f"num_classes={config.num_classes} must be positive")
    if not 0 <= config.dropout < 1:
        raise ValueError(f"dropout={config.dropout} must be in [0, 1)")
    if config.base_width < 1:
        raise ValueError(f"base_width={config.base_width} must be positive")
    if config.in_channels < 1:
        raise ValueError(f"in_channels={config.in_channels} must be positive")
    if config.image_size < 32:
        raise ValueError(f"image_size={config.image_size} must be at least 32 (a stride-32 net)")


@dataclass(frozen=True)
class ModelEntry:
    """One registered name: its family, config class, builder and the defaults it changes."""

    name: str
    family: str
    config_cls: type
    build: Callable[[Any], nn.Module]
    defaults: dict[str, Any]
    description: str


@dataclass(frozen=True)
class FieldInfo:
    name: str
    type_name: str
    default: Any
    help: str


_REGISTRY: dict[str, ModelEntry] = {}


def register(
    name: str, config_cls: type, description: str, family: str | None = None, **defaults: Any
) -> Callable[[Callable[[Any], nn.Module]], Callable[[Any], nn.Module]]:
    """Register ``builder(config) -> nn.Module`` under ``name``; ``defaults`` make it a variant."""

    def wrap(build: Callable[[Any], nn.Module]) -> Callable[[Any], nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is registered twice")
        _REGISTRY[name] = ModelEntry(name, family or name, config_cls, build, defaults, description)
        return build

    return wrap


def register_variant(
    name: str, of: str, description: str, family: str | None = None, **defaults: Any
) -> None:
    """Register an alias of an existing name that changes only some config defaults."""
    base = get_entry(of)
    if name in _REGISTRY:
        raise ValueError(f"model name {name!r} is registered twice")
    _REGISTRY[name] = ModelEntry(
        name,
        family or base.family,
        base.config_cls,
        base.build,
        {**base.defaults, **defaults},
        description,
    )


def list_models(families_only: bool = False) -> list[str]:
    """Registered names, sorted; with ``families_only`` just the family names."""
    if families_only:
        return sorted({e.family for e in _REGISTRY.values()})
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    if name not in _REGISTRY:
        known = ", ".join(list_models(families_only=True))
        raise ValueError(
            f"unknown model {name!r}; known families: {known} (all names: `blvprof models`)"
        )
    return _REGISTRY[name]


def resolve_config(name: str, **overrides: Any) -> Any:
    """The frozen config that ``create_model(name, **overrides)`` would build."""
    entry = get_entry(name)
    for key, value in overrides.items():
        check_type(name, key, value, field_type(name, key))
    return entry.config_cls(**{**entry.defaults, **overrides})


def create_model(name: str, checkpoint: str | None = None, **overrides: Any) -> nn.Module:
    """Build a registered model; ``checkpoint`` (a path) loads weights (``weights_only=True``)."""
    config = resolve_config(name, **overrides)
    model = get_entry(name).build(config)
    if checkpoint is not None:
        from model.checkpoints import load_checkpoint

        load_checkpoint(model, checkpoint)
    return model


def config_fields(name: str) -> list[FieldInfo]:
    """Fields of a name's config with the defaults that name resolves to."""
    entry = get_entry(name)
    resolved = resolve_config(name)
    hints = typing.get_type_hints(entry.config_cls)
    return [
        FieldInfo(
            f.name, type_name(hints[f.name]), getattr(resolved, f.name), f.metadata.get("help", "")
        )
        for f in dataclasses.fields(entry.config_cls)
    ]


def field_type(name: str, key: str) -> Any:
    """The declared type of one config field (raises ValueError when the field is unknown)."""
    hints = typing.get_type_hints(get_entry(name).config_cls)
    if key not in hints:
        raise ValueError(f"{name} has no field {key!r}; its fields: {', '.join(hints)}")
    return hints[key]


def type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is Literal:
        return "|".join(str(a) for a in typing.get_args(annotation))
    if isinstance(annotation, types.UnionType):
        return " | ".join(getattr(a, "__name__", str(a)) for a in typing.get_args(annotation))
    return getattr(annotation, "__name__", str(annotation))


def check_type(name: str, key: str, value: Any, annotation: Any) -> None:
    """Raise ValueError unless ``value`` fits the field's declared type."""
    if typing.get_origin(annotation) is Literal:
        choices = typing.get_args(annotation)
        if value not in choices:
            raise ValueError(
                f"{name}: {key}={value!r} is not one of {', '.join(map(str, choices))}"
            )
        return
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(annotation, True)
    if not ok:
        raise ValueError(
            f"{name}: {key}={value!r} has type {type(value).__name__}, "
            f"expected {type_name(annotation)}"
        )
