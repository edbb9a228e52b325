"""Deterministic weights keyed by official parameter names, and the committed equivalence fixture.

The fixture ``fixtures/official_blvnet_tam.json`` was produced by running the official bLVNet-TAM
code (github IBM/bLVNet-TAM, commit in the fixture) outside this project: for each case it lists
the official state-dict keys and shapes, and the logits the official model gives for a seeded input
after its weights were filled by ``fill_state``. The tests rebuild the same official-format state
dict from names and shapes alone, load it through our checkpoint converter and compare logits.
"""

import json
import math
import zlib
from pathlib import Path

import torch

FIXTURE = Path(__file__).parent / "fixtures" / "official_blvnet_tam.json"


def fill_tensor(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """A tensor determined by its key name and shape only (scaled to keep activations tame)."""
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "num_batches_tracked":
        return torch.zeros(shape, dtype=torch.long)
    if leaf == "running_var":
        return torch.rand(shape, generator=gen) + 0.5
    if leaf in ("running_mean", "bias"):
        return torch.randn(shape, generator=gen) * 0.1
    if len(shape) == 1:  # batch-norm scale
        return torch.rand(shape, generator=gen) * 0.5 + 0.5
    fan_in = math.prod(shape[1:])
    # A TAM tap (C, 1, 1, 1) has fan_in 1: keep taps below 1 so seven TAMs do not blow up.
    scale = 0.5 if fan_in == 1 else 1 / math.sqrt(fan_in)
    return torch.randn(shape, generator=gen) * scale


def fill_state(keys_and_shapes: list[tuple[str, list[int]]]) -> dict[str, torch.Tensor]:
    return {name: fill_tensor(name, tuple(shape)) for name, shape in keys_and_shapes}


def clip_input(seed: int, shape: list[int]) -> torch.Tensor:
    """The seeded input clip (N, C, T, H, W) of a fixture case."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def load_fixture() -> dict:
    return json.loads(FIXTURE.read_text())
