"""``train_model``: a short training run of a zoo model or a model reference; its record.

The recipe is the paper's (SGD, Nesterov momentum 0.9, weight decay 5e-4, cosine learning rate
per iteration after an optional linear warm-up) at a size that fits a quick study. Nothing here is
global: the function can run inside a Ray task or a subprocess, and restores torch's determinism
flags when it returns.
"""

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress, TextColumn
from torch.utils.data import DistributedSampler

from blvprof import external
from blvprof.errors import UserError
from blvprof.measure.flops import count_flops, parameter_count
from blvprof.train.checkpoint import CHECKPOINT_FILE, RunState, restore_progress, save_progress
from blvprof.train.distributed import device_type, process_group, resolve_device
from blvprof.train.loop import evaluate, recompute_bn_statistics, train_epoch
from blvprof.train.metrics import CLIPS, IDENTIFIED, pair_accuracy
from blvprof.train.runtime import deterministic_algorithms, epoch_seed, seed_everything
from blvprof.train.session import Session, open_session, wrap_for_processes
from blvprof.train.spec import TrainSpec
from blvprof.train.trained_model import TrainedModel


def train_model(
    model_name: str,
    overrides: dict[str, Any],
    spec: TrainSpec,
    *,
    device: str = "auto",
    out_dir: Path | None = None,
    resume: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Train ``model_name`` per ``spec``; the record on rank 0, ``{}`` in other processes.

    ``model_name`` is a registered name or a reference (``FILE.py:CALLABLE``), whose
    ``overrides`` are its arguments plus, as in a study point, ``input_shape`` and ``layout``
    (see ``blvprof.train.trained_model`` for how it meets the data).

    ``out_dir`` receives ``last.pt`` after every epoch; ``resume`` continues from it (it must
    exist). A NaN or infinite loss raises ``TrainingDiverged``; an interrupt (Ctrl-C) after at
    least one epoch returns the record so far with ``stopped`` saying so.
    """
    if resume and out_dir is None:
        raise UserError("resume needs out_dir, the folder holding last.pt")
    checkpoint = Path(out_dir) / CHECKPOINT_FILE if out_dir is not None else None
    with (
        process_group(device_type(device)) as processes,
        deterministic_algorithms(spec.deterministic),
    ):
        session = open_session(
            model_name, overrides, spec, resolve_device(device, processes), processes
        )
        state = RunState([], {})
        if resume and checkpoint is not None:
            state = restore_progress(checkpoint, session.net, session.model, session.trainer,
                                     spec)
        resumed_at = len(state.history) if resume else None
        session = wrap_for_processes(session)
        state, stopped = _run_epochs(session, state, checkpoint, progress and processes.main)
        return _record(session, state, stopped, resumed_at) if processes.main else {}


def _run_epochs(
    session: Session, state: RunState, checkpoint: Path | None, show: bool
) -> tuple[RunState, str | None]:
    """Train the remaining epochs; the state reached and why the run stopped early (or None)."""
    processes = session.trainer.processes
    with _progress_bar(show) as bar:
        for epoch in range(len(state.history), session.spec.epochs):
            try:
                state = _one_epoch(session, state, epoch, bar)
            except KeyboardInterrupt:
                # Alone, a process can stop cleanly; distributed, the others would wait forever.
                if processes.distributed or not state.history:
                    raise
                return state, f"interrupted during epoch {epoch + 1}"
            if checkpoint is not None and processes.main:
                save_progress(
                    checkpoint,
                    session.net,
                    session.model,
                    session.trainer,
                    session.spec,
                    state,
                )
    return state, None


def _one_epoch(session: Session, state: RunState, epoch: int, bar: Progress) -> RunState:
    spec, trainer = session.spec, session.trainer
    seed = epoch_seed(spec.seed, epoch, trainer.processes.rank)
    seed_everything(seed)
    session.generator.manual_seed(seed)
    sampler = session.train_loader.sampler
    if isinstance(sampler, DistributedSampler):  # it shuffles by (seed, epoch)
        sampler.set_epoch(epoch)
    task = bar.add_task(
        f"epoch {epoch + 1}/{spec.epochs}", total=session.steps_per_epoch, status=""
    )
    started = time.perf_counter()
    train_loss, train_top1 = train_epoch(
        trainer,
        islice(session.train_loader, session.steps_per_epoch),
        epoch,
        lambda loss: bar.update(task, advance=1, status=f"loss {loss:.3f}"),
    )
    trained = time.perf_counter()
    recompute_bn_statistics(trainer, session.net, session.bn_loader)
    result = evaluate(
        trainer, session.net, islice(session.val_loader, spec.max_val_batches), session.pairs
    )
    entry = {
        "epoch": epoch + 1,
        "train_loss": train_loss,
        "train_top1": train_top1,
        "val_loss": result.val_loss,
        "val_top1": result.val_top1,
        "val_top5": result.val_top5,
        "val_pair_identity": _identity(result.pair_counts),
        "lr": trainer.optimizer.param_groups[0]["lr"],
        "seconds": time.perf_counter() - started,
        "train_seconds": trained - started,
    }
    bar.update(task, status=f"loss {train_loss:.3f}, val top-1 {result.val_top1:.1%}")
    names, reversed_pairs = session.bundle.class_names, session.bundle.reversed_pairs
    within = pair_accuracy(result.pair_counts, reversed_pairs, names)
    identity = pair_accuracy(result.pair_counts, reversed_pairs, names, IDENTIFIED)
    return RunState([*state.history, entry], within, identity)


def _identity(counts: Any) -> float | None:
    """The fraction of paired validation clips whose predicted class is in their pair."""
    clips = float(counts[:, CLIPS].sum())
    return float(counts[:, IDENTIFIED].sum()) / clips if clips else None


def _macs(model: TrainedModel) -> dict[str, Any]:
    """MACs per clip at the trained size: FlopCounterMode on fake tensors (no weights, ~0.1 s),
    the same count as an ablation row's ``counter="flop_counter"``."""
    counted = count_flops(model.build, (1, *model.clip))
    return {
        "macs": counted.macs,
        "macs_counter": "flop_counter",
        "train_flops": counted.train_flops,
    }


@contextmanager
def _progress_bar(show: bool) -> Iterator[Progress]:
    """A rich progress bar on stderr, or one that shows nothing."""
    columns = (*Progress.get_default_columns(), TextColumn("{task.fields[status]}"))
    bar = Progress(*columns, console=Console(stderr=True), disable=not show)
    with bar:
        yield bar


def _record(
    session: Session, state: RunState, stopped: str | None, resumed_at: int | None
) -> dict[str, Any]:
    spec, bundle, history, model = session.spec, session.bundle, state.history, session.model
    last = history[-1]
    step_shape = (spec.batch, *model.clip)  # one step's clips in each process
    return {
        "model": model.name,
        "family": model.family,
        "config": model.config,
        "input_shape": list(step_shape),
        "layout": model.layout,
        "model_input_shape": list(external.layout_shape(step_shape, model.layout)),
        "data": spec.data,
        "epochs": spec.epochs,
        "batch": spec.batch,
        "lr": spec.lr,
        "weight_decay": spec.weight_decay,
        "warmup_epochs": spec.warmup_epochs,
        "size": spec.size,
        "seed": spec.seed,
        "deterministic": spec.deterministic,
        "precision": session.trainer.precision,
        "device": session.trainer.device.type,
        "world_size": session.trainer.processes.world_size,
        "top1": last["val_top1"],
        "top5": last["val_top5"],
        "best_top1": max(entry["val_top1"] for entry in history),
        "history": history,
        # The median, as every timing here: the first epoch also pays for warm-up.
        "seconds_per_epoch": statistics.median(entry["seconds"] for entry in history),
        "num_classes": bundle.num_classes,
        "class_names": bundle.class_names,
        "bad_samples": bundle.bad_samples(),  # as rank 0 saw them
        "pair_accuracy": state.pair_accuracy if bundle.reversed_pairs else None,
        "pair_accuracy_mean": (
            statistics.fmean(state.pair_accuracy.values()) if state.pair_accuracy else None
        ),
        "pair_identity": state.pair_identity if bundle.reversed_pairs else None,
        "pair_identity_mean": last.get("val_pair_identity"),
        "benchmark": bundle.benchmark,
        "params": parameter_count(session.net),
        **_macs(model),
        "flip": bundle.flip_allowed,  # random left-right flips of training clips
        "train_clips": len(bundle.train),
        "val_clips": len(bundle.val),
        "steps_per_epoch": session.steps_per_epoch,
        "resumed_from_epoch": resumed_at,
        "stopped": stopped,
    }
