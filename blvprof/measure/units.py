"""Unit conversions. Records keep raw units (MACs, bytes, seconds); these convert for display.

A MAC is one multiply-accumulate; a FLOP is one multiply or one add, so 1 MAC = 2 FLOPs. The
paper's "FLOPs" are MACs. Bytes use binary prefixes (GiB = 2**30) unless the name says GB.
"""

# The sizes and their text forms live in blvprof.units (torch-free, shared with rendering);
# re-exported here for measurement code and benchmarks that read them from this module.
from blvprof.units import GIB, KIB, MIB, format_bytes, parse_bytes  # noqa: F401


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

