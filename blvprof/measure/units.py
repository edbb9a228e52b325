"""Unit conversions. Records keep raw units (MACs, bytes, seconds); these convert for display.

A MAC is one multiply-accumulate; a FLOP is one multiply or one add, so 1 MAC = 2 FLOPs. The
paper's "FLOPs" are MACs. Bytes use binary prefixes (GiB = 2**30) unless the name says GB.
"""

import re

KIB, MIB, GIB = 2**10, 2**20, 2**30
_BYTE_UNITS = {
    "": 1,
    "b": 1,
    "kib": KIB,
    "mib": MIB,
    "gib": GIB,
    "tib": 2**40,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "k": KIB,
    "m": MIB,
    "g": GIB,  # bare letters follow the binary convention of GPU tools
}
_BYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_bytes(text: str) -> int:
    """'16GiB' -> 17179869184, '16GB' -> 16000000000, '512MiB', '1.5 GiB', '1024'."""
    match = _BYTES.match(text)
    unit = match.group(2).lower() if match else None
    if not match or unit not in _BYTE_UNITS:
        raise ValueError(f"cannot read {text!r} as a memory size (examples: 16GiB, 12GB, 512MiB)")
    value = int(float(match.group(1)) * _BYTE_UNITS[unit])
    if value <= 0:
        raise ValueError(f"memory size {text!r} must be positive")
    return value


def bytes_to_gib(n_bytes: float) -> float:
    return n_bytes / GIB


def gib_to_bytes(gib: float) -> int:
    return round(gib * GIB)


def bytes_to_mib(n_bytes: float) -> float:
    return n_bytes / MIB


def seconds_to_ms(seconds: float) -> float:
    return seconds * 1e3


def ms_to_seconds(ms: float) -> float:
    return ms / 1e3


def macs_to_flops(macs: int) -> int:
    return 2 * macs


def flops_to_macs(flops: int) -> int:
    if flops % 2:
        raise ValueError(f"{flops} FLOPs is not a whole number of MACs")
    return flops // 2


def per_frame(per_clip_value: float, num_frames: int) -> float:
    """A per-clip figure divided over the clip's input frames."""
    if num_frames <= 0:
        raise ValueError("num_frames must be positive")
    return per_clip_value / num_frames


def per_clip(per_frame_value: float, num_frames: int) -> float:
    if num_frames <= 0:
        raise ValueError("num_frames must be positive")
    return per_frame_value * num_frames


def giga(value: float) -> float:
    return value / 1e9


def format_bytes(n_bytes: float) -> str:
    """Human-readable binary size: '1.50 GiB', '752 MiB'."""
    if n_bytes >= GIB:
        return f"{n_bytes / GIB:.2f} GiB"
    if n_bytes >= MIB:
        return f"{n_bytes / MIB:.0f} MiB"
    return f"{n_bytes / KIB:.0f} KiB"
