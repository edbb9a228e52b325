"""Byte sizes as people write and read them: parsing flags and rendering reports. No torch.

Records keep raw units (MACs, bytes, seconds); this module converts sizes at the edges only, so
measurement (``blvprof.measure``), the CLI and rendering (``blvprof.report``) share it without
rendering importing measurement. Bytes use binary prefixes (GiB = 2**30) unless the name says GB.
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


def format_bytes(n_bytes: float) -> str:
    """Human-readable binary size: '1.50 GiB', '752 MiB'."""
    if n_bytes >= GIB:
        return f"{n_bytes / GIB:.2f} GiB"
    if n_bytes >= MIB:
        return f"{n_bytes / MIB:.0f} MiB"
    return f"{n_bytes / KIB:.0f} KiB"
