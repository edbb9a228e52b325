"""One training epoch and one evaluation pass, with metrics summed over all processes."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from blvprof.measure.precision import autocast
from blvprof.train.distributed import Processes, all_finite, all_reduce_sum
from blvprof.train.metrics import PairTable, pair_counts, topk_correct

Batch = tuple[torch.Tensor, torch.Tensor]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run stops (a failed run, not bad input)."""


@dataclass(frozen=True)
class Trainer:
    """What one training step touches; ``model`` is DDP-wrapped in a distributed run."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: LambdaLR
    scaler: torch.amp.GradScaler
    device: torch.device
    precision: str  # fp32 | bf16 | fp16, already resolved
    processes: Processes


@dataclass(frozen=True)
class Evaluation:
    val_loss: float
    val_top1: float
    val_top5: float
    pair_counts: torch.Tensor  # (pairs, 2): clips where the true logit beats the twin's, clips


def train_epoch(
    trainer: Trainer,
    batches: Iterable[Batch],
    epoch: int,
    on_step: Callable[[float], None],
) -> tuple[float, float]:
    """Train over ``batches``; the mean loss and top-1 accuracy over all processes' clips."""
    trainer.model.train()
    totals = torch.zeros(3, dtype=torch.float64)  # loss sum, top-1 hits, clips
    for step, (clips, labels) in enumerate(batches):
        clips, labels = clips.to(trainer.device), labels.to(trainer.device)
        with autocast(trainer.device.type, trainer.precision):
            logits = trainer.model(clips)
        loss = F.cross_entropy(logits.float(), labels)
        if not all_finite(loss, trainer.processes):
            raise TrainingDiverged(_divergence(trainer, loss, epoch, step))
        trainer.optimizer.zero_grad(set_to_none=True)
        trainer.scaler.scale(loss).backward()
        trainer.scaler.step(trainer.optimizer)
        trainer.scaler.update()
        trainer.scheduler.step()
        top1, _ = topk_correct(logits.detach(), labels)
        value = loss.item()
        totals += torch.tensor([value * len(labels), top1, len(labels)], dtype=torch.float64)
        on_step(value)
    totals = all_reduce_sum(totals, trainer.processes, trainer.device)
    return float(totals[0] / totals[2]), float(totals[1] / totals[2])


def _divergence(trainer: Trainer, loss: torch.Tensor, epoch: int, step: int) -> str:
    value = loss.item()
    where = f"{value}" if not torch.isfinite(loss) else "non-finite in another process"
    lr = trainer.optimizer.param_groups[0]["lr"]
    return (
        f"training diverged: loss {where} at epoch {epoch + 1}, step {step + 1} (lr {lr:.3g}); "
        "lower the learning rate, add warm-up or train in fp32"
    )


@torch.no_grad()
def evaluate(
    trainer: Trainer, model: nn.Module, batches: Iterable[Batch], pairs: PairTable
) -> Evaluation:
    """Loss, top-1 and top-5 of ``model`` over all processes' shards of the validation set.

    ``model`` is the unwrapped network: shards may differ in length, and DDP's forward would wait
    for the other processes.
    """
    model.eval()
    totals = torch.zeros(4, dtype=torch.float64)  # loss sum, top-1 hits, top-5 hits, clips
    paired = torch.zeros(pairs.count, 2, dtype=torch.float64)
    for clips, labels in batches:
        clips, labels = clips.to(trainer.device), labels.to(trainer.device)
        with autocast(trainer.device.type, trainer.precision):
            logits = model(clips).float()
        loss = F.cross_entropy(logits, labels, reduction="sum")
        top1, top5 = topk_correct(logits, labels)
        totals += torch.tensor([loss.item(), top1, top5, len(labels)], dtype=torch.float64)
        paired += pair_counts(logits, labels, pairs)
    totals = all_reduce_sum(totals, trainer.processes, trainer.device)
    clips_seen = max(float(totals[3]), 1.0)
    return Evaluation(
        val_loss=float(totals[0]) / clips_seen,
        val_top1=float(totals[1]) / clips_seen,
        val_top5=float(totals[2]) / clips_seen,
        pair_counts=all_reduce_sum(paired, trainer.processes, trainer.device),
    )
