"""Speed records: the timing primitive and the record's derived fields (no timed assertions)."""

import os
import subprocess
import sys

import pytest

import model as zoo
from blvprof.measure import speed
from tests.tiny import tiny_overrides


def test_time_calls_counts_and_orders() -> None:
    calls = []
    timing = speed.time_calls(lambda: calls.append(1), warmup=2, calls=7, device="cpu")
    assert len(calls) == 9 and timing.calls == 7
    assert timing.min_s <= timing.p10_s <= timing.median_s <= timing.p90_s <= timing.max_s


def test_summarize_by_hand() -> None:
    timing = speed.summarize([3.0, 1.0, 2.0])
    assert (timing.min_s, timing.median_s, timing.max_s) == (1.0, 2.0, 3.0)


def test_speed_record_fields_follow_from_the_timings() -> None:
    net = zoo.create_model("tsn", **tiny_overrides("tsn"))
    record = speed.measure_speed(net, (2, 3, 4, 64, 64), "cpu", "fp32", warmup=1, calls=2,
                                 num_classes=5, train_flops_per_clip=10**9)
    assert record.infer_clips_per_s == pytest.approx(2 / record.infer.median_s)
    assert record.train_frames_per_s == pytest.approx(2 * 4 / record.train.median_s)
    assert record.train_ms == pytest.approx(record.train.median_s * 1e3)
    assert record.achieved_train_flops_per_s == pytest.approx(2e9 / record.train.median_s)
    assert record.peak_flops_per_s is None and record.peak_fraction is None  # no GPU here
    assert net.training  # mode restored


def test_gpu_peak_table() -> None:
    assert speed.gpu_peak_flops("NVIDIA H100 80GB HBM3", "bf16") == 989e12
    assert speed.gpu_peak_flops("NVIDIA A100-SXM4-40GB", "fp32") == 156e12
    assert speed.gpu_peak_flops("Some Future GPU", "bf16") is None
    assert speed.gpu_peak_flops(None, "fp32") is None


@pytest.mark.parametrize(
    ("name", "precision", "peak"),
    [
        ("NVIDIA H100 PCIe", "bf16", 756e12),  # not the SXM module's 989
        ("NVIDIA H100 NVL", "bf16", 835e12),
        ("NVIDIA H200 NVL", "fp32", 417e12),
        ("NVIDIA H200", "bf16", 989e12),
        ("NVIDIA L40", "bf16", 181e12),  # not L4's
        ("NVIDIA L40S", "bf16", 362e12),
        ("NVIDIA L4", "bf16", 121e12),
        ("NVIDIA A10", "bf16", 125e12),
        ("NVIDIA A10G", "bf16", None),  # not A10's: unknown, so no share of peak
        ("NVIDIA A100 80GB PCIe", "bf16", 312e12),
        ("Tesla V100-PCIE-16GB", "fp16", 112e12),
        ("Tesla V100-SXM2-16GB", "fp16", 125e12),
        ("NVIDIA H100 80GB HBM3 MIG 1g.10gb", "bf16", None),  # a slice of the GPU
    ],
)
def test_gpu_peak_table_matches_the_whole_model_name(name: str, precision: str, peak) -> None:
    assert speed.gpu_peak_flops(name, precision) == peak


def test_fp32_peak_is_the_tf32_figure_only_where_tf32_is_allowed() -> None:
    assert speed.gpu_peak_flops("NVIDIA A100-SXM4-40GB", "fp32", tf32=True) == 156e12
    assert speed.gpu_peak_flops("NVIDIA A100-SXM4-40GB", "fp32", tf32=False) == 19.5e12
    assert speed.gpu_peak_flops("Tesla T4", "fp32", tf32=True) == 8.1e12  # no TF32 cores


_RSS_AFTER_FREE = """
import os, sys, torch
from blvprof.measure import speed
if sys.argv[1] == "keep":
    print(speed.keep_freed_memory())
def rss() -> int:
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
before = rss()
x = torch.ones(64 * 2**20 // 4)
del x
print((rss() - before) // 2**20)
"""


@pytest.mark.parametrize("mode", ["keep", "default"])
def test_keep_freed_memory_keeps_a_freed_tensor_in_the_process(mode: str) -> None:
    """With the allocator set, a freed 64 MiB tensor stays resident (the next step reuses it
    without page faults); by default glibc unmaps it."""
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", _RSS_AFTER_FREE, mode], env=env,
                         capture_output=True, text=True, check=True).stdout.split("\n")
    kept_mib = int(out[-2])
    if mode == "keep":
        assert out[0].startswith("glibc, freed memory kept")
        assert kept_mib >= 60
    else:
        assert kept_mib < 8


def test_cpu_speed_records_say_how_the_allocator_was_set() -> None:
    net = zoo.create_model("tsn", **tiny_overrides("tsn"))
    record = speed.measure_speed(net, (1, 3, 4, 32, 32), "cpu", "fp32", warmup=0, calls=1,
                                 num_classes=5)
    assert record.cpu_allocator == speed.keep_freed_memory()
    assert record.cpu_allocator.startswith("glibc")
