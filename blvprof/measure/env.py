"""The environment every record carries, so results from different machines never mix."""

import functools
import os
import platform
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

import blvprof
from blvprof.records import Flags


@functools.lru_cache(maxsize=1)
def machine() -> dict[str, Any]:
    """Static facts about this process's machine and software, collected once."""
    cuda = torch.cuda.is_available()
    return {
        "blvprof": blvprof.__version__,
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "cpu_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }


def gpu() -> dict[str, Any]:
    """The current CUDA device (not device 0: a process may have chosen another) and the TF32
    settings, read at each measurement: fp32 convolutions and matmuls run on TF32 tensor cores
    where these allow it, which changes both the time and the peak it is compared with."""
    cuda = torch.cuda.is_available()
    index = torch.cuda.current_device() if cuda else None
    return {
        "gpu": torch.cuda.get_device_name(index) if cuda else None,
        "gpu_index": index,
        "gpu_memory_bytes": torch.cuda.get_device_properties(index).total_memory if cuda else None,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
    }


def environment(device: str, flags: Flags) -> dict[str, Any]:
    """Machine facts plus the device a measurement ran on and its flags."""
    info = {**machine(), **gpu()}
    name = info["gpu"] if device == "cuda" else info["cpu"]
    return {**info, "device": device, "device_name": name, **asdict(flags)}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    """The project's commit when running from a checkout (with '+dirty' for local changes)."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit
