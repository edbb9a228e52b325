"""The paper's optimiser: SGD with Nesterov momentum 0.9 and a per-iteration cosine learning rate.

Weight decay applies to conv, linear and TAM weights, not to batch-norm parameters or biases
(every parameter with one dimension), as TSN's ``get_optim_policies`` does.
"""

import math
from functools import partial

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

MOMENTUM = 0.9


def lr_factor(step: int, *, total_steps: int, warmup_steps: int) -> float:
    """Multiplier of the peak learning rate at ``step``: linear warm-up, then cosine to zero."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / decay_steps, 1.0)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.SGD:
    """SGD, Nesterov momentum 0.9; no weight decay on BN parameters and biases."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    decayed = [p for p in trainable if p.dim() > 1]
    undecayed = [p for p in trainable if p.dim() <= 1]
    groups = [
        {"params": decayed, "weight_decay": weight_decay},
        {"params": undecayed, "weight_decay": 0.0},
    ]
    return torch.optim.SGD(groups, lr=lr, momentum=MOMENTUM, nesterov=True)


def make_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int
) -> LambdaLR:
    """A scheduler stepped once per iteration; its state dict holds plain numbers only."""
    factor = partial(lr_factor, total_steps=total_steps, warmup_steps=warmup_steps)
    return LambdaLR(optimizer, factor)
