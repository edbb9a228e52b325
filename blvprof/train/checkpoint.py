"""A run's checkpoint (``last.pt``, written after every epoch) and resuming from it.

Besides the weights it holds the model's name and config (as the run's record says them), the
optimiser, scheduler and grad-scaler states, the history so far, the last pair accuracies and the
spec: tensors, numbers, strings, lists and dicts only, so it loads with ``weights_only=True``.
RNG states are not needed: every epoch reseeds from (seed, epoch, rank). A model reference's
weights are its own module's (no layout adapter around them), so they load into what its
callable returns; its config holds a hash of its source file, so a run never resumes from a
checkpoint of an edited model.
"""

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from blvprof.errors import UserError
from blvprof.external import unwrapped
from blvprof.train.loop import Trainer
from blvprof.train.spec import RESUMABLE_CHANGES, TrainSpec
from blvprof.train.trained_model import TrainedModel
from model.checkpoints import CheckpointError, fit_report

CHECKPOINT_FILE = "last.pt"


@dataclass(frozen=True)
class RunState:
    """What a run has done so far."""

    history: list[dict[str, Any]]  # one entry per finished epoch
    pair_accuracy: dict[str, float]  # of the last evaluation: within each reversed pair
    pair_identity: dict[str, float] = field(default_factory=dict)  # and the pair named


def save_progress(
    path: Path, net: nn.Module, model: TrainedModel, trainer: Trainer, spec: TrainSpec,
    done: RunState
) -> None:
    payload = {
        "state_dict": unwrapped(net).state_dict(),
        "model": model.name,
        "config": model.config,
        "epoch": len(done.history),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict(),
        "scaler": trainer.scaler.state_dict(),
        "history": done.history,
        "pair_accuracy": done.pair_accuracy,
        "pair_identity": done.pair_identity,
        "spec": dataclasses.asdict(spec),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, partial)
    partial.replace(path)  # never leave a half-written checkpoint behind


def restore_progress(
    path: Path, net: nn.Module, model: TrainedModel, trainer: Trainer, spec: TrainSpec
) -> RunState:
    """Load a checkpoint of the same model, config and spec into ``net`` and ``trainer``."""
    if not path.is_file():
        raise UserError(f"nothing to resume: {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a corrupt file or one holding pickled code
        raise CheckpointError(f"checkpoint {path} cannot be read safely: {error}") from error
    _check_same_run(path, payload, model, spec)
    weights = unwrapped(net)
    problem = fit_report(payload["state_dict"], weights)
    if problem:
        raise CheckpointError(f"checkpoint {path} does not fit {model.name}: {problem}")
    weights.load_state_dict(payload["state_dict"])
    trainer.optimizer.load_state_dict(payload["optimizer"])
    trainer.scheduler.load_state_dict(payload["scheduler"])
    trainer.scaler.load_state_dict(payload["scaler"])
    return RunState(
        list(payload["history"]),
        dict(payload["pair_accuracy"]),
        dict(payload.get("pair_identity", {})),  # absent in checkpoints of older releases
    )


def _check_same_run(path: Path, payload: Any, model: TrainedModel, spec: TrainSpec) -> None:
    if not isinstance(payload, dict) or "history" not in payload or "optimizer" not in payload:
        raise UserError(f"{path} is not a training checkpoint of blvprof train")
    config, saved_config = model.config, payload.get("config", {})
    if payload.get("model") == model.name and saved_config.get("source") != config.get("source"):
        raise UserError(
            f"{path} was trained from another version of {model.name}'s source file (hash "
            f"{saved_config.get('source')}, now {config.get('source')}); an edited model starts "
            "afresh: give another --out"
        )
    if payload.get("model") != model.name or saved_config != config:
        changed = sorted(k for k in config if saved_config.get(k) != config[k])
        raise UserError(
            f"{path} was trained as {payload.get('model')!r}; this run differs in model or "
            f"config ({', '.join(changed) or 'name'})"
        )
    now = dataclasses.asdict(spec)
    saved = payload.get("spec", {})
    changed = [k for k in now if k not in RESUMABLE_CHANGES and saved.get(k) != now[k]]
    if changed:
        raise UserError(
            f"{path} was trained with other settings ({', '.join(changed)}); "
            f"a resumed run may change only {', '.join(RESUMABLE_CHANGES)}"
        )
    if len(payload["history"]) > spec.epochs:
        raise UserError(
            f"{path} already has {len(payload['history'])} epochs; epochs={spec.epochs} is fewer"
        )
