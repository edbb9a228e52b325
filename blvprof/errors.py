"""The one exception type the CLI turns into a single line on stderr and exit code 2, and the one
test for an out-of-memory error (a one-line error in a command, an ``oom`` row in a sweep)."""

import re


class UserError(ValueError):
    """Bad input from the user: a flag, a file, a study. The message is one line."""


# What torch says when an allocation fails: CUDA raises torch.OutOfMemoryError ("CUDA out of
# memory"); the CPU allocator raises a plain RuntimeError ("DefaultCPUAllocator: can't allocate
# memory"); Python itself raises MemoryError.
_OOM_PHRASES = ("out of memory", "can't allocate memory", "cannot allocate memory",
                "defaultcpuallocator")


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation failure (CUDA or CPU), the one test for sweeps and CLI."""
    if isinstance(error, MemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(p in text for p in _OOM_PHRASES)


def describe_out_of_memory(error: BaseException) -> str:
    """One line for an allocation failure: where, and how much was asked for when torch says."""
    text = str(error)
    where = "CUDA" if "cuda" in text.lower() else "CPU"
    asked = re.search(r"tried to allocate (\d+) bytes", text, re.IGNORECASE)
    if asked:
        size = int(asked.group(1))
        detail = f"tried to allocate {size / 2**30:,.1f} GiB"
    else:
        sized = re.search(r"tried to allocate ([\d.]+ [KMGT]iB)", text, re.IGNORECASE)
        detail = f"tried to allocate {sized.group(1)}" if sized else type(error).__name__
    return f"out of memory ({where}): {detail}; try a smaller --batch, --size or --frames"
