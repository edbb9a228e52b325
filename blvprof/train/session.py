"""Everything a run builds before its first step: data, model, loaders, optimiser and schedule."""

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from blvprof.data import DataBundle, build_datasets, parse_data_spec
from blvprof.errors import UserError
from blvprof.train.distributed import Processes
from blvprof.train.loop import BN_BATCHES, Batch, Trainer
from blvprof.train.metrics import PairTable
from blvprof.train.runtime import seed_everything, seed_worker
from blvprof.train.schedule import make_optimizer, make_scheduler
from blvprof.train.spec import TrainSpec, resolve_precision
from blvprof.train.trained_model import TrainedModel, clip_frames, trained_model


@dataclass(frozen=True)
class Session:
    model: TrainedModel  # what is trained: its name, family, config, clip and layout
    spec: TrainSpec
    bundle: DataBundle
    net: nn.Module  # the unwrapped network (takes clips): checkpoints and evaluation use it
    trainer: Trainer  # its model is DDP-wrapped in a distributed run
    train_loader: DataLoader[Any]
    val_loader: DataLoader[Any]
    bn_loader: DataLoader[Any]  # the fixed training clips that BN statistics are recomputed on
    generator: torch.Generator  # the train loader's; reseeded every epoch
    steps_per_epoch: int
    pairs: PairTable


def open_session(
    model_name: str,
    overrides: dict[str, Any],
    spec: TrainSpec,
    device: torch.device,
    processes: Processes,
) -> Session:
    """Build the run; the model is not yet DDP-wrapped (restore a checkpoint first)."""
    with _bad_input():
        bundle = build_datasets(
            parse_data_spec(spec.data),
            clip_frames(model_name, overrides),
            spec.size,
            seed=spec.seed,
            dense=spec.dense,
            skip_bad=spec.skip_bad,
        )
        trained = trained_model(model_name, overrides, spec.size, bundle.num_classes)
        seed_everything(spec.seed)  # the same initial weights in every process and every rerun
        net = trained.build().to(device)
    generator = torch.Generator()
    train_loader, val_loader = _loaders(bundle, spec, processes, generator, device)
    steps = _steps_per_epoch(train_loader, spec, processes, len(bundle.train))
    bn_loader = _bn_loader(bundle, spec, processes, device, min(BN_BATCHES, steps))
    optimizer = make_optimizer(net, spec.lr, spec.weight_decay)
    precision = resolve_precision(spec.precision, device.type)
    trainer = Trainer(
        model=net,
        optimizer=optimizer,
        scheduler=make_scheduler(optimizer, steps * spec.epochs, round(spec.warmup_epochs * steps)),
        scaler=torch.amp.GradScaler(device.type, enabled=precision == "fp16"),
        device=device,
        precision=precision,
        processes=processes,
    )
    pairs = PairTable.build(bundle.reversed_pairs, bundle.num_classes)
    return Session(
        model=trained,
        spec=spec,
        bundle=bundle,
        net=net,
        trainer=trainer,
        train_loader=train_loader,
        val_loader=val_loader,
        bn_loader=bn_loader,
        generator=generator,
        steps_per_epoch=steps,
        pairs=pairs,
    )


@contextmanager
def _bad_input() -> Iterator[None]:
    """Data and model-config problems are the caller's: report them as one-line UserErrors."""
    try:
        yield
    except UserError:
        raise
    except ValueError as error:  # DataError, and the zoo's config and name errors
        raise UserError(str(error)) from error


def wrap_for_processes(session: Session) -> Session:
    """In a distributed run, wrap the model in DDP (which broadcasts rank 0's weights)."""
    trainer = session.trainer
    if not trainer.processes.distributed:
        return session
    device_ids = [trainer.device.index] if trainer.device.type == "cuda" else None
    wrapped = DistributedDataParallel(session.net, device_ids=device_ids)
    return replace(session, trainer=replace(trainer, model=wrapped))


def _loaders(
    bundle: DataBundle,
    spec: TrainSpec,
    processes: Processes,
    generator: torch.Generator,
    device: torch.device,
) -> tuple[DataLoader[Batch], DataLoader[Batch]]:
    if len(bundle.val) == 0:
        raise UserError(f"data {spec.data!r} has no validation clips")
    sampler = (
        DistributedSampler(
            bundle.train, processes.world_size, processes.rank, shuffle=True, seed=spec.seed
        )
        if processes.distributed
        else None
    )
    # Each process evaluates every world_size-th clip: no padding, so metrics stay exact.
    val: Dataset[Any] = (
        Subset(bundle.val, range(processes.rank, len(bundle.val), processes.world_size))
        if processes.distributed
        else bundle.val
    )
    common = _loader_settings(spec, device)
    train_loader = DataLoader(
        bundle.train,
        shuffle=sampler is None,
        sampler=sampler,
        drop_last=True,  # equal steps in every process, and no one-clip batches
        generator=generator,
        **common,
    )
    return train_loader, DataLoader(val, shuffle=False, **common)


def _bn_loader(
    bundle: DataBundle, spec: TrainSpec, processes: Processes, device: torch.device, batches: int
) -> DataLoader[Batch]:
    """``batches`` batches of training clips drawn once from the run's seed: the same clips
    every epoch, in every rerun and whatever the loader's workers, so a resumed or re-run
    evaluation is identical. Each process takes its own share."""
    count = min(len(bundle.train), batches * spec.batch * processes.world_size)
    chosen = np.random.default_rng(spec.seed).permutation(len(bundle.train))[:count]
    mine = [int(i) for i in chosen[processes.rank :: processes.world_size]]
    return DataLoader(Subset(bundle.train, mine), shuffle=False, **_loader_settings(spec, device))


def _loader_settings(spec: TrainSpec, device: torch.device) -> dict[str, Any]:
    """What every loader of a run shares: batch, worker processes and their seeding, pinning."""
    return {
        "batch_size": spec.batch,
        "num_workers": spec.workers,
        "worker_init_fn": seed_worker,
        "pin_memory": device.type == "cuda",
    }


def _steps_per_epoch(
    loader: DataLoader[Batch], spec: TrainSpec, processes: Processes, clips: int
) -> int:
    if len(loader) == 0:
        share = math.ceil(clips / processes.world_size)
        per = f" ({share} per process)" if processes.distributed else ""
        raise UserError(f"batch={spec.batch} is larger than the {clips} training clips{per}")
    if spec.max_train_batches is None:
        return len(loader)
    return min(len(loader), spec.max_train_batches)
