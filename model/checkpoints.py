"""Load checkpoints: this project's own and the official bLVNet-TAM ones (github IBM/bLVNet-TAM).

Accepted layouts: a raw state dict, or one wrapped as ``{"state_dict": ...}``; keys with or
without DataParallel's ``module.`` prefix. Official keys are renamed to ours: ``baseline_model.``
dropped, ``new_fc`` -> ``fc``, a TAM's ``prev/curr/next`` (r = 3) or ``blending_layers.k`` 1×1
depthwise convs stacked into one ``(C, r)`` weight, layer4's ``tam`` -> ``temporal``. Files are
always read with ``torch.load(..., weights_only=True)``: a checkpoint holds tensors and plain data,
never code.
"""

import dataclasses
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

_TAM_TAP = re.compile(
    r"^(?P<prefix>.*\btam)\.(?:(?P<name>prev|curr|next)|blending_layers\.(?P<k>\d+))\.weight$"
)
_NAMED_TAPS = {"prev": 0, "curr": 1, "next": 2}
_SHOWN = 6  # keys listed per kind in an error message
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6
_PICKLE_PROTO = 0x80  # the legacy format: a pickle, which opens with the PROTO opcode
_UNSAFE_GLOBAL = re.compile(r"unsupported global:? (?:GLOBAL )?(\S+?)\.?(?:\s|$)", re.IGNORECASE)
# torch's own advice in a weights-only failure: to load unsafely. Never passed on to the user.
_TORCH_ADVICE = ("weights only load failed", "weights_only", "file an issue", "documentation")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model's config."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, unwrapped from ``{"state_dict": ...}`` if needed."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    _check_format(path)
    try:
        with warnings.catch_warnings():  # torch warns of pickle protocols: noise beside the line
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a corrupt file or one holding pickled code
        raise CheckpointError(_load_failure(path, error)) from error
    state = payload.get("state_dict", payload) if isinstance(payload, Mapping) else None
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise CheckpointError(f"checkpoint {path} holds no state dict of tensors")
    return dict(state)


def _check_format(path: Path) -> None:
    """Name what the file is when it is no checkpoint at all, before torch's unpickler tries it."""
    with path.open("rb") as handle:
        head = handle.read(len(_ZIP_MAGIC))
    if not head:
        raise CheckpointError(f"checkpoint {path} is empty")
    if head == _ZIP_MAGIC:
        if not zipfile.is_zipfile(path):
            raise CheckpointError(f"checkpoint {path} is truncated or corrupt: its zip archive "
                                  "has no end (was the copy or the save cut short?)")
    elif head[0] != _PICKLE_PROTO:
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (neither a torch.save "
                              "archive nor a pickle)")


def _load_failure(path: Path, error: Exception) -> str:
    """One line on why torch.load(weights_only=True) failed, without torch's advice to load
    unsafely: a checkpoint holds tensors and plain data, and a file that holds code is refused."""
    text = str(error)
    unsafe = _UNSAFE_GLOBAL.search(text)
    if unsafe:
        return (f"checkpoint {path} is refused: it holds {unsafe.group(1)}, code rather than "
                "tensors and plain data (checkpoints are never loaded in a way that runs code)")
    if isinstance(error, EOFError | zipfile.BadZipFile) or "central directory" in text:
        return f"checkpoint {path} is truncated or corrupt"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = next((line for line in lines
                   if not any(advice in line.lower() for advice in _TORCH_ADVICE)), "")
    return (f"{path} is not a readable PyTorch checkpoint (corrupt, or some other pickle): "
            f"{type(error).__name__} {reason}".rstrip())


def convert_official(
    state: Mapping[str, torch.Tensor], model: nn.Module
) -> dict[str, torch.Tensor]:
    """Rename official bLVNet-TAM keys (and strip ``module.``) so they match ``model``'s own."""
    renamed: dict[str, torch.Tensor] = {}
    taps: dict[str, dict[int, torch.Tensor]] = {}
    named: set[str] = set()  # TAMs stored as prev/curr/next
    for key, value in state.items():
        key = key.removeprefix("module.").removeprefix("baseline_model.")
        key = re.sub(r"^new_fc\.", "fc.", key)
        tap = _TAM_TAP.match(key)
        if tap:
            index = _NAMED_TAPS[tap["name"]] if tap["name"] else int(tap["k"])
            if tap["name"]:
                named.add(tap["prefix"])
            taps.setdefault(tap["prefix"], {})[index] = value
        else:
            renamed[key] = value
    own_keys = set(model.state_dict())
    for prefix, by_index in taps.items():
        _check_taps(prefix, by_index, prefix in named)
        weight = torch.stack([by_index[k].reshape(-1) for k in sorted(by_index)], dim=1)  # (C, r)
        key = f"{prefix}.weight"
        if key not in own_keys:  # the official layer4 blocks call their TAM `tam`; ours `temporal`
            key = f"{prefix.removesuffix('tam')}temporal.weight"
        renamed[key] = weight
    return renamed


def _check_taps(prefix: str, by_index: Mapping[int, torch.Tensor], named: bool) -> None:
    """A TAM's taps must be 0..r-1 with none missing: all of prev/curr/next when named so."""
    expected = range(len(_NAMED_TAPS)) if named else range(max(by_index) + 1)
    gaps = [k for k in expected if k not in by_index]
    if gaps:
        names = {index: name for name, index in _NAMED_TAPS.items()}
        keys = [f"{prefix}.{names[k] if named else f'blending_layers.{k}'}.weight" for k in gaps]
        raise CheckpointError(f"TAM {prefix} lacks tap(s): {', '.join(keys)}")


def fit_report(state: Mapping[str, torch.Tensor], model: nn.Module) -> str | None:
    """None when ``state`` fits ``model`` exactly, else one line naming the keys that do not."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    misshaped = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if state[k].shape != own[k].shape
    ]
    parts = [
        f"{label} ({len(keys)}): {', '.join(keys[:_SHOWN])}{', …' if len(keys) > _SHOWN else ''}"
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("mis-shaped", misshaped),
        )
        if keys
    ]
    return "; ".join(parts) or None


def load_checkpoint(model: nn.Module, path: str | Path) -> None:
    """Load weights into ``model`` in place; fail with one line if the checkpoint does not fit."""
    state = convert_official(read_state_dict(path), model)
    problem = fit_report(state, model)
    if problem:
        raise CheckpointError(f"checkpoint {path} does not fit {_describe(model)}: {problem}")
    model.load_state_dict(state)


def save_checkpoint(path: str | Path, model: nn.Module, name: str, **extra: Any) -> None:
    """Save this project's checkpoint: state dict, model name, resolved config, and ``extra``."""
    config = getattr(model, "config", None)
    payload = {
        "state_dict": model.state_dict(),
        "model": name,
        "config": dataclasses.asdict(config) if config is not None else {},
        **extra,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # never leave a half-written checkpoint behind


def _describe(model: nn.Module) -> str:
    config = getattr(model, "config", None)
    return repr(config) if config is not None else type(model).__name__
