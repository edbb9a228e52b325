"""Numeric precision of a measurement: fp32, or bf16/fp16 through autocast."""

from contextlib import AbstractContextManager, nullcontext

import torch

from blvprof.records import Precision

DTYPES = {Precision.FP32: None, Precision.BF16: torch.bfloat16, Precision.FP16: torch.float16}


def autocast(device_type: str, precision: str) -> AbstractContextManager[object]:
    """A context that runs the enclosed ops at ``precision`` (nothing to do for fp32)."""
    if precision not in DTYPES:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(DTYPES)}")
    dtype = DTYPES[Precision(precision)]
    return nullcontext() if dtype is None else torch.autocast(device_type, dtype=dtype)
