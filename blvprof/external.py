"""Models from outside the zoo: a reference to a callable that returns an ``nn.Module``.

A reference is ``path/to/file.py:callable`` or ``package.module:callable`` (a class is a callable
too; ``callable`` may be dotted). Keyword arguments are typed by the callable's annotations or
defaults. A model that declares no ``input_spec`` says what it takes with a clip shape (C, T, H, W)
and a layout; blvprof always feeds it one (N, C, T, H, W) clip per sample through
:class:`LayoutAdapter`, so every count, memory figure and speed is per clip whatever the layout.

Importing a model file runs its code. Every problem is a one-line :class:`UserError`.
"""

import ast
import copy
import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

import model as zoo
from blvprof.errors import UserError
from blvprof.report.summary import external_label

FAMILY = "external"
LAYOUTS = ("ncthw", "ntchw", "frames-in-batch", "frames-in-channels")
DEFAULT_LAYOUT = "ncthw"
# Keys of a study grid point that describe the input, not arguments of the callable.
INPUT_KEYS = ("input_shape", "layout")
CHECK_BATCH = 2  # clips in the shape check: a model that loses the batch dimension shows it
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}

ClipShape = tuple[int, int, int, int]  # C, T, H, W


def is_reference(name: str) -> bool:
    """A model reference names a callable after a colon; registered names never have one."""
    return ":" in name


def family_of(name: str) -> str:
    return FAMILY if is_reference(name) else zoo.get_entry(name).family


@dataclass(frozen=True)
class Reference:
    text: str  # as the user wrote it
    target: str  # a file path or a module name
    attribute: str  # possibly dotted
    is_file: bool


def parse_reference(text: str) -> Reference:
    target, _, attribute = text.rpartition(":")
    if not target or not attribute:
        raise UserError(f"model reference {text!r} must be FILE.py:CALLABLE or MODULE:CALLABLE")
    is_file = target.endswith(".py") or "/" in target or "\\" in target
    return Reference(text, target, attribute, is_file)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


def _import_file(ref: Reference) -> types.ModuleType:
    path = Path(ref.target)
    if not path.is_file():
        raise UserError(f"{ref.text}: no such file {ref.target}")
    source = path.read_bytes()
    # The name carries the file's content hash: an edited file is imported afresh, an unchanged
    # one is reused across a grid's points.
    name = "_blvprof_model_" + hashlib.sha256(str(path.resolve()).encode() + source).hexdigest()
    if name in sys.modules:
        return sys.modules[name]
    folder = str(path.resolve().parent)
    if folder not in sys.path:  # its sibling modules import as they would for a script
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"{ref.text}: {ref.target} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look a module up while it runs
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        message = f"{ref.text}: importing {ref.target} failed: {_first_line(error)}"
        raise UserError(message) from None
    return module


def _import_module(ref: Reference) -> types.ModuleType:
    try:
        return importlib.import_module(ref.target)
    except ModuleNotFoundError as error:
        missing = f"module {error.name!r} not found" if error.name else str(error)
        raise UserError(f"{ref.text}: cannot import {ref.target}: {missing}") from None
    except Exception as error:
        message = f"{ref.text}: importing {ref.target} failed: {_first_line(error)}"
        raise UserError(message) from None


def load_callable(text: str) -> Callable[..., Any]:
    """The callable a reference names (importing its file or module runs that code)."""
    ref = parse_reference(text)
    module = _import_file(ref) if ref.is_file else _import_module(ref)
    found: Any = module
    for part in ref.attribute.split("."):
        if not hasattr(found, part):
            defined = sorted(
                n for n, v in vars(module).items()
                if callable(v) and getattr(v, "__module__", None) == module.__name__
            )
            where = ref.target if found is module else f"{ref.target}:{ref.attribute}"
            raise UserError(f"{ref.text}: {where} has no attribute {part!r}; "
                            f"it defines: {', '.join(defined) or 'no callables'}")
        found = getattr(found, part)
    if not callable(found):
        kind = type(found).__name__
        raise UserError(f"{ref.text}: {ref.attribute} is not callable (type {kind})")
    return typing.cast(Callable[..., Any], found)


def source_digest(text: str) -> str | None:
    """A hash of the file that defines the reference, so an edited model is measured again.

    Only that file: an edit in a module it imports is not seen.
    """
    ref = parse_reference(text)
    if ref.is_file:
        path = Path(ref.target)
    else:
        origin = getattr(_import_module(ref), "__file__", None)
        if origin is None:
            return None
        path = Path(origin)
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError as error:
        raise UserError(f"{text}: cannot read {path}: {error.strerror}") from None


# --- arguments ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """What a callable accepts: each named parameter's type (None: untyped) and default."""

    label: str
    types: dict[str, Any]
    defaults: dict[str, Any]
    open: bool  # takes **kwargs


def signature_of(fn: Callable[..., Any], label: str) -> Signature:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature: accept any keyword
        return Signature(label, {}, {}, True)
    try:
        target = fn.__init__ if isinstance(fn, type) else fn  # type: ignore[misc]
        hints = typing.get_type_hints(target)
    except Exception:  # an annotation that does not resolve: fall back to the defaults
        hints = {}
    named = [p for p in parameters.values()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    empty = inspect.Parameter.empty
    found: dict[str, Any] = {}
    for p in named:
        fallback = type(p.default) if p.default not in (empty, None) else None
        found[p.name] = hints.get(p.name, fallback)
    return Signature(
        label,
        found,
        {p.name: p.default for p in named if p.default is not empty},
        any(p.kind == p.VAR_KEYWORD for p in parameters.values()),
    )


def accepts(text: str, key: str) -> bool:
    """Whether the reference's callable takes ``key``, or the key describes its input."""
    sig = signature_of(load_callable(text), text)
    return key in INPUT_KEYS or key in sig.types or sig.open


def type_name(annotation: Any) -> str:
    return "a literal" if annotation is None else zoo.registry.type_name(annotation)


def _choices(annotation: Any) -> tuple[Any, ...] | None:
    """The alternatives of a union (``int | None``), else None."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return typing.get_args(annotation)
    return None


def value_from_text(text: str, annotation: Any) -> Any:
    """``text`` as a value of ``annotation``; ValueError when it is not one."""
    if annotation is None or annotation is Any:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text  # an unquoted word is a string
    if typing.get_origin(annotation) is typing.Literal:
        for choice in typing.get_args(annotation):
            if str(choice) == text:
                return choice
        raise ValueError
    alternatives = _choices(annotation)
    if alternatives is not None:
        if text.lower() == "none" and type(None) in alternatives:
            return None
        for alternative in alternatives:
            if alternative is not type(None):
                try:
                    return value_from_text(text, alternative)
                except ValueError:
                    pass
        raise ValueError
    if annotation is bool:
        if text.lower() not in _TRUE | _FALSE:
            raise ValueError
        return text.lower() in _TRUE
    if annotation in (int, float, str):
        return annotation(text)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ValueError from None
    return _checked(value, annotation)


def _checked(value: Any, annotation: Any) -> Any:
    """``value`` if it fits ``annotation`` (a list fits a tuple, as one); else ValueError."""
    if annotation is None or annotation is Any:
        return value
    if typing.get_origin(annotation) is typing.Literal:
        if value not in typing.get_args(annotation):
            raise ValueError
        return value
    alternatives = _choices(annotation)
    if alternatives is not None:
        for alternative in alternatives:
            try:
                return value if value is None and alternative is type(None) else _checked(
                    value, alternative)
            except ValueError:
                pass
        raise ValueError
    origin = typing.get_origin(annotation) or annotation
    if origin is tuple and isinstance(value, list):
        value = tuple(value)
    if origin is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(origin, type) or origin is type(None):
        return value  # a type we cannot check here: the callable judges it
    if isinstance(value, bool) and origin is not bool:
        raise ValueError
    if not isinstance(value, origin):
        raise ValueError
    return value


def _known(sig: Signature, key: str) -> None:
    if key not in sig.types and not sig.open:
        raise UserError(f"{sig.label} takes no argument {key!r}; it takes: "
                        f"{', '.join(sig.types) or 'no arguments'}")


def parse_argument(sig: Signature, key: str, text: str) -> Any:
    """A ``--set KEY=VALUE`` value typed as the callable declares (else read as a literal)."""
    _known(sig, key)
    annotation = sig.types.get(key)
    try:
        return value_from_text(text, annotation)
    except ValueError:
        raise UserError(f"--set {key}={text}: {sig.label} expects {type_name(annotation)}"
                        ) from None


def check_arguments(sig: Signature, arguments: dict[str, Any]) -> dict[str, Any]:
    """Arguments given as values (a study file, Python) checked against the callable's types."""
    checked = {}
    for key, value in arguments.items():
        _known(sig, key)
        annotation = sig.types.get(key)
        try:
            checked[key] = _checked(value, annotation)
        except ValueError:
            raise UserError(f"{sig.label}: {key}={value!r} has type {type(value).__name__}, "
                            f"expected {type_name(annotation)}") from None
    return checked


# --- input layouts --------------------------------------------------------------------------


def check_layout(layout: str) -> str:
    if layout not in LAYOUTS:
        raise UserError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    return layout


def parse_input_shape(text: str) -> ClipShape:
    """'C,T,H,W' (one clip) as four positive integers; 'CxTxHxW' too, where commas separate
    a grid's values (``ablate --set input_shape=3x8x224x224``)."""
    try:
        values = tuple(int(v) for v in re.split(r"[,x]", text))
    except ValueError:
        values = ()
    if len(values) != 4 or min(values) < 1:
        raise UserError(f"input shape {text!r} must be C,T,H,W: four positive integers")
    return typing.cast(ClipShape, values)


def check_input_shape(shape: Any) -> ClipShape:
    values = tuple(shape)
    if len(values) != 4 or not all(isinstance(v, int) and v > 0 for v in values):
        raise UserError(f"input shape {shape!r} must be C,T,H,W: four positive integers")
    return typing.cast(ClipShape, values)


def layout_shape(clip_shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    """The tensor a model in ``layout`` takes for clips shaped (N, C, T, H, W)."""
    n, c, t, h, w = clip_shape
    return {
        "ncthw": (n, c, t, h, w),
        "ntchw": (n, t, c, h, w),
        "frames-in-batch": (n * t, c, h, w),
        "frames-in-channels": (n, t * c, h, w),  # frame-major: each frame's C channels together
    }[layout]


def to_layout(clip: torch.Tensor, layout: str) -> torch.Tensor:
    """An (N, C, T, H, W) clip rearranged as a model in ``layout`` takes it (contiguous)."""
    if layout == "ncthw":
        return clip
    frames_first = clip.transpose(1, 2)  # N, T, C, H, W
    if layout == "ntchw":
        return frames_first.contiguous()
    return frames_first.reshape(layout_shape(tuple(clip.shape), layout))


class LayoutAdapter(nn.Module):
    """Takes an (N, C, T, H, W) clip and hands the wrapped model its own layout.

    Outside ncthw the rearrangement copies the input once; that copy is part of the memory and
    speed figures (one clip's pixels, small beside a network's activations). It adds no MACs.
    """

    def __init__(self, model: nn.Module, layout: str):
        super().__init__()
        self.model = model
        self.layout = layout

    def forward(self, clip: torch.Tensor) -> Any:
        return self.model(to_layout(clip, self.layout))


def adapt(net: nn.Module, layout: str) -> nn.Module:
    return net if layout == "ncthw" else LayoutAdapter(net, layout)


def unwrapped(net: nn.Module) -> nn.Module:
    """The model :func:`adapt` wrapped: its weights are the ones a checkpoint holds."""
    return net.model if isinstance(net, LayoutAdapter) else net


def declared_input(net: nn.Module) -> tuple[ClipShape, str] | None:
    """A model's own input contract: the zoo's ``InputSpec``, or (C, T, H, W) [+ input_layout]."""
    spec = getattr(net, "input_spec", None)
    if spec is None:
        return None
    if isinstance(spec, zoo.InputSpec):
        return (spec.channels, spec.num_frames, spec.size, spec.size), "ncthw"
    try:
        shape = check_input_shape(spec)
    except (TypeError, UserError):
        raise UserError(f"input_spec {spec!r} is neither an InputSpec nor (C, T, H, W)") from None
    return shape, check_layout(getattr(net, "input_layout", DEFAULT_LAYOUT))


# --- ready to measure -----------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """A model from outside the zoo, ready to measure: its builds take (N, C, T, H, W) clips."""

    build: Callable[[], nn.Module]  # called under FakeTensorMode too
    clip: ClipShape
    layout: str
    num_classes: int
    config: dict[str, Any]  # what the record and the store say the model is
    name: str  # the record's model: a registered name, a reference, a module's class
    family: str = FAMILY


def _call(fn: Callable[..., Any], arguments: dict[str, Any], label: str) -> nn.Module:
    try:
        net = fn(**arguments)
    except Exception as error:
        raise UserError(f"{label} raised {_first_line(error)}") from None
    if not isinstance(net, nn.Module):
        raise UserError(f"{label} returned {type(net).__name__}, not a torch.nn.Module")
    return net


def _check_forward(net: nn.Module, clip: ClipShape, layout: str, label: str) -> int:
    """Run one fake forward pass; the number of classes of its (N, classes) logits."""
    shape = (CHECK_BATCH, *clip)
    passed = layout_shape(shape, layout)
    try:
        with torch.no_grad():
            out = adapt(net.eval(), layout)(torch.zeros(shape))
    except Exception as error:
        raise UserError(f"{label} rejected an input of shape {passed} (layout {layout}, "
                        f"{CHECK_BATCH} clips of C,T,H,W={clip}): {_first_line(error)}") from None
    got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != CHECK_BATCH:
        raise UserError(f"{label} returned {got} for an input of shape {passed} ({CHECK_BATCH} "
                        f"clips, layout {layout}); blvprof needs (clips, classes) logits")
    return int(out.shape[1])


def _contract(net: nn.Module, clip: ClipShape | None, layout: str | None, label: str
              ) -> tuple[ClipShape, str]:
    """The flags when given, else what the model declares; one of them is needed."""
    declared = declared_input(net)
    if clip is not None:  # a declared layout still holds for a clip shape given apart
        return clip, layout or (declared[1] if declared is not None else DEFAULT_LAYOUT)
    if declared is None:
        raise UserError(f"{label} declares no input_spec: give --input-shape C,T,H,W "
                        "(and --layout unless it takes N,C,T,H,W)")
    return declared[0], layout or declared[1]


def prepare(text: str, arguments: dict[str, Any], clip: ClipShape | None = None,
            layout: str | None = None) -> Subject:
    """Import, build (on fake tensors) and check a reference; what measuring it needs.

    A callable that takes ``num_frames`` is given the clip's T unless the arguments set it.
    """
    fn = load_callable(text)
    sig = signature_of(fn, text)
    arguments = check_arguments(sig, arguments)
    if clip is not None:
        clip = check_input_shape(clip)
        if "num_frames" in sig.types and "num_frames" not in arguments:
            arguments = {**arguments, "num_frames": clip[1]}
    if layout is not None:
        check_layout(layout)
    label = external_label({"callable": text, "arguments": arguments})
    with FakeTensorMode():
        net = _call(fn, arguments, label)
        clip, layout = _contract(net, clip, layout, label)
        num_classes = _check_forward(net, clip, layout, label)
    config = {"callable": text, "arguments": arguments, "source": source_digest(text),
              "layout": layout, "clip": list(clip)}
    chosen = layout

    def build() -> nn.Module:
        return adapt(_call(fn, arguments, label), chosen)

    return Subject(build, clip, layout, num_classes, config, text)


def declared_input_of(text: str, arguments: dict[str, Any]) -> tuple[ClipShape, str] | None:
    """What a reference's module declares it takes, read from a build on fake tensors."""
    fn = load_callable(text)
    arguments = check_arguments(signature_of(fn, text), arguments)
    label = external_label({"callable": text, "arguments": arguments})
    with FakeTensorMode():
        return declared_input(_call(fn, arguments, label))


def fake_copy(module: nn.Module) -> nn.Module:
    """Under an active FakeTensorMode, a copy of ``module`` whose tensors are fake; else itself.

    The measurements that run on fake tensors build their model inside the mode; a module built
    outside it has real tensors, which that mode refuses.
    """
    mode = torch._C._get_dispatch_mode(torch._C._TorchDispatchModeKey.FAKE)
    if mode is None:
        return module
    memo: dict[int, Any] = {}
    for tensor in [*module.parameters(), *module.buffers()]:
        fake = mode.from_tensor(tensor)
        memo[id(tensor)] = (nn.Parameter(fake, requires_grad=tensor.requires_grad)
                            if isinstance(tensor, nn.Parameter) else fake)
    return copy.deepcopy(module, memo)


def module_subject(module: nn.Module, clip: ClipShape | None, layout: str | None) -> Subject:
    """A module built in the caller's process, ready to measure (fake copies where needed)."""
    if not isinstance(module, nn.Module):
        raise UserError(f"profile_module takes a torch.nn.Module, not a {type(module).__name__}")
    name = type(module).__qualname__
    if clip is not None:
        clip = check_input_shape(clip)
    if layout is not None:
        check_layout(layout)
    clip, layout = _contract(module, clip, layout, name)
    with FakeTensorMode():  # the check runs on a copy: the caller's module keeps its mode
        num_classes = _check_forward(fake_copy(module), clip, layout, name)
    config = {"callable": f"{type(module).__module__}.{name}", "arguments": {}, "source": None,
              "layout": layout, "clip": list(clip)}
    chosen = layout
    return Subject(lambda: adapt(fake_copy(module), chosen), clip, layout, num_classes, config,
                   name)


def split_point(overrides: dict[str, Any]) -> tuple[dict[str, Any], ClipShape | None, str | None]:
    """A study point's overrides as (callable arguments, clip shape, layout).

    A ``num_frames`` argument is the clip's T too, so a grid over frames can mix zoo models and
    references.
    """
    arguments = {k: v for k, v in overrides.items() if k not in INPUT_KEYS}
    shape = overrides.get("input_shape")
    clip = parse_input_shape(shape) if isinstance(shape, str) else (
        check_input_shape(shape) if shape is not None else None)
    frames = arguments.get("num_frames")
    if clip is not None and isinstance(frames, int) and not isinstance(frames, bool):
        clip = (clip[0], frames, clip[2], clip[3])
    layout = overrides.get("layout")
    return arguments, clip, check_layout(layout) if layout is not None else None


def resized(overrides: dict[str, Any], size: int) -> dict[str, Any]:
    """A study point at another input side (a speed point's size); a declared input keeps its."""
    _, clip, _ = split_point(overrides)
    if clip is None:
        return dict(overrides)
    return {**overrides, "input_shape": ",".join(map(str, (clip[0], clip[1], size, size)))}


def check_point(text: str, overrides: dict[str, Any]) -> None:
    """A study point: the callable exists and takes these arguments; the input keys parse."""
    arguments, _, _ = split_point(overrides)
    check_arguments(signature_of(load_callable(text), text), arguments)


def point_config(text: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """What a study row says a reference's point is when it failed before being measured."""
    arguments = {k: v for k, v in overrides.items() if k not in INPUT_KEYS}
    return {"callable": text, "arguments": arguments,
            **{k: overrides[k] for k in INPUT_KEYS if k in overrides}}
