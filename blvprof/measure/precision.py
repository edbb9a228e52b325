"""Numeric precision of a measurement: fp32, or bf16/fp16 through autocast."""

from contextlib import AbstractContextManager, nullcontext

import torch

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device_type: str, precision: str) -> AbstractContextManager[object]:
    """A context that runs the enclosed ops at ``precision`` (nothing to do for fp32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    dtype = PRECISIONS[precision]
    return nullcontext() if dtype is None else torch.autocast(device_type, dtype=dtype)
