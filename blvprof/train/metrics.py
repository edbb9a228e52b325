"""Accuracy counts as plain tensors of sums, so processes can all-reduce them before dividing.

Top-5 is top-min(5, classes). Pair accuracy asks, for each time-reversed pair (a, b) and each
validation clip labelled a or b, whether the logit of the true label beats the logit of its twin:
a model blind to frame order scores 50 % there, whatever its overall accuracy. Pair identity asks
whether the predicted class is one of the clip's pair: it shows whether a model learned anything at
all (chance is 1 / pairs), order-blind or not.
"""

from dataclasses import dataclass

import torch

TOP_K = 5


@dataclass(frozen=True)
class PairTable:
    """Lookups from a label to its pair's twin and the pair's index (-1 for unpaired labels)."""

    twin: torch.Tensor  # (classes,) long
    pair_index: torch.Tensor  # (classes,) long
    count: int  # pairs

    @staticmethod
    def build(pairs: list[tuple[int, int]], num_classes: int) -> "PairTable":
        twin = torch.full((num_classes,), -1, dtype=torch.long)
        pair_index = torch.full((num_classes,), -1, dtype=torch.long)
        for index, (a, b) in enumerate(pairs):
            twin[a], twin[b] = b, a
            pair_index[a] = pair_index[b] = index
        return PairTable(twin, pair_index, len(pairs))


def topk_correct(logits: torch.Tensor, labels: torch.Tensor) -> tuple[int, int]:
    """How many clips have the true label first, and among the first min(5, classes)."""
    k = min(TOP_K, logits.shape[1])
    top = logits.topk(k, dim=1).indices  # (N, k)
    hits = top == labels[:, None]
    return int(hits[:, 0].sum()), int(hits.any(dim=1).sum())


# Columns of pair_counts' result.
WITHIN, IDENTIFIED, CLIPS = 0, 1, 2


def pair_counts(logits: torch.Tensor, labels: torch.Tensor, table: PairTable) -> torch.Tensor:
    """(pairs, 3) sums: clips where the true logit beats the twin's, clips whose predicted class
    is in their pair, and clips counted."""
    counts = torch.zeros(table.count, 3, dtype=torch.float64)
    logits, labels = logits.float().cpu(), labels.cpu()
    twin = table.twin[labels]
    paired = twin >= 0
    if not paired.any():
        return counts
    rows = torch.nonzero(paired).squeeze(1)
    true_logit = logits[rows, labels[rows]]
    twin_logit = logits[rows, twin[rows]]
    index = table.pair_index[labels[rows]]
    predicted = table.pair_index[logits[rows].argmax(dim=1)]
    counts[:, WITHIN].index_add_(0, index, (true_logit > twin_logit).double())
    counts[:, IDENTIFIED].index_add_(0, index, (predicted == index).double())
    counts[:, CLIPS].index_add_(0, index, torch.ones(len(rows), dtype=torch.float64))
    return counts


def pair_accuracy(
    counts: torch.Tensor, pairs: list[tuple[int, int]], names: list[str], column: int = WITHIN
) -> dict[str, float]:
    """Fraction per pair of ``column`` (WITHIN or IDENTIFIED), keyed ``"name_a|name_b"``; pairs
    without validation clips are left out."""
    return {
        f"{names[a]}|{names[b]}": float(counts[i, column] / counts[i, CLIPS])
        for i, (a, b) in enumerate(pairs)
        if counts[i, CLIPS] > 0
    }
