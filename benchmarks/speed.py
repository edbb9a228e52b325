"""Interleaved A/B timing of bLVNet-TAM against its baselines at equal input frames (issue #6).

    python benchmarks/speed.py [--size 160] [--frames 16] [--batch 1] [--repeats 9]
        [--warmup 2] [--out reports/speed.md] [--groups fp32,channels_last] [--tune-malloc]

Every model is built once; after warm-up, each round times one inference and one training step
(forward, cross-entropy, backward, SGD-momentum step) of every variant in turn, so a change in the
machine's load hits all variants alike. Ratios are medians of per-round ratios. Each timed call is
``blvprof.measure.speed.time_calls``. The share of the MAC cut realized as time is
(t_TSN / t_bLVNet) / (MACs_TSN / MACs_bLVNet) at equal input frames: 1.0 means time falls as much
as MACs do. Groups: ``fp32`` and ``channels_last`` run anywhere; ``bf16`` and ``compile`` (bf16,
channels-last, torch.compile) run only on a GPU and are skipped, with a note, without one.
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch import nn

from blvprof.measure.env import gpu, machine
from blvprof.measure.flops import count_flops
from blvprof.measure.memory import train_step
from blvprof.measure.precision import autocast
from blvprof.measure.speed import gpu_peak_flops, time_calls
from model import create_model

MALLOC_TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736"
GPU_ONLY_GROUPS = ("bf16", "compile")
BASELINE = "TSN-R50"


@dataclass(frozen=True)
class Model:
    label: str
    name: str
    overrides: dict = field(default_factory=dict)


MODELS = (
    Model("bLVNet-TAM-50", "blvnet_tam", {"depth": 50}),
    Model("bLVNet-TAM-50 reference", "blvnet_tam", {"depth": 50, "reference": True}),
    Model(BASELINE, "tsn", {"depth": 50}),
    Model("TAM-ResNet-50", "tam_resnet", {"depth": 50}),
    Model("TAM-ResNet-50 reference", "tam_resnet", {"depth": 50, "reference": True}),
    Model("TSM-R50", "tsm", {"depth": 50}),
    Model("TSM-R50 reference", "tsm", {"depth": 50, "reference": True}),
)
# (precision, channels_last, compiled, models) per group; reference modes run only as fp32.
GROUPS = {
    "fp32": ("fp32", False, False, [m.label for m in MODELS]),
    "channels_last": ("fp32", True, False, ["bLVNet-TAM-50", BASELINE, "TAM-ResNet-50", "TSM-R50"]),
    "bf16": ("bf16", True, False, ["bLVNet-TAM-50", BASELINE, "TAM-ResNet-50", "TSM-R50"]),
    "compile": ("bf16", True, True, ["bLVNet-TAM-50", BASELINE, "TAM-ResNet-50", "TSM-R50"]),
}
COMPARISONS = (  # (what, numerator, denominator): a time ratio within one group
    ("reference / fast bLVNet-TAM-50", "bLVNet-TAM-50 reference", "bLVNet-TAM-50"),
    ("reference / fast TAM-ResNet-50", "TAM-ResNet-50 reference", "TAM-ResNet-50"),
    ("TAM-ResNet-50 / TSN-R50", "TAM-ResNet-50", BASELINE),
    ("TSM-R50 / TSN-R50", "TSM-R50", BASELINE),
    ("TSN-R50 / bLVNet-TAM-50", BASELINE, "bLVNet-TAM-50"),
)


@dataclass
class Variant:
    model: Model
    group: str
    precision: str
    channels_last: bool
    compiled: bool
    infer: Callable[[], None]
    train: Callable[[], None]
    seconds: dict[str, list[float]] = field(default_factory=lambda: {"infer": [], "train": []})


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=160, help="frame side in pixels")
    parser.add_argument("--frames", type=int, default=16, help="input frames (8×2 = 16)")
    parser.add_argument("--batch", type=int, default=1, help="clips per step")
    parser.add_argument("--repeats", type=int, default=9, help="interleaved timed rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per variant")
    parser.add_argument("--groups", default="fp32,channels_last,bf16,compile")
    parser.add_argument("--out", type=Path, default=Path("reports/speed.md"))
    parser.add_argument(
        "--tune-malloc",
        action="store_true",
        help=f"re-run this script with GLIBC_TUNABLES={MALLOC_TUNABLES} (fewer page faults)",
    )
    return parser.parse_args()


def reexec_with_malloc_tunables() -> None:
    """glibc reads GLIBC_TUNABLES at process start only: set it and start this script again."""
    if os.environ.get("GLIBC_TUNABLES") != MALLOC_TUNABLES:
        env = {**os.environ, "GLIBC_TUNABLES": MALLOC_TUNABLES}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


def build_variant(model: Model, group: str, args: argparse.Namespace, device: str) -> Variant:
    precision, channels_last, compiled, _ = GROUPS[group]
    torch.manual_seed(0)
    net = build_model(model, args.frames).to(device)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=layout)
    runner: nn.Module = torch.compile(net) if compiled else net
    shape = (args.batch, 3, args.frames, args.size, args.size)
    clip = torch.randn(shape, device=device)
    labels = torch.randint(0, net.config.num_classes, (args.batch,), device=device)
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9, nesterov=True)

    def infer() -> None:
        net.eval()
        with torch.inference_mode(), autocast(device, precision):
            runner(clip)

    def train() -> None:
        net.train()
        train_step(runner, optimizer, clip, labels, precision)

    return Variant(model, group, precision, channels_last, compiled, infer, train)


def run_rounds(variants: list[Variant], args: argparse.Namespace, device: str) -> None:
    for variant in variants:
        for mode in ("infer", "train"):
            time_calls(getattr(variant, mode), args.warmup, 1, device)
    for round_index in range(args.repeats):
        for variant in variants:
            for mode in ("infer", "train"):
                timing = time_calls(getattr(variant, mode), 0, 1, device)
                variant.seconds[mode].append(timing.median_s)
        print(f"round {round_index + 1}/{args.repeats} done", file=sys.stderr)


def paired_ratio(numerator: Variant, denominator: Variant, mode: str) -> float:
    """Median over rounds of the ratio of two variants' times in the same round."""
    pairs = zip(numerator.seconds[mode], denominator.seconds[mode], strict=True)
    return statistics.median(a / b for a, b in pairs)


@dataclass(frozen=True)
class Work:
    """Per clip: conv + linear MACs, and FLOPs of a training step (forward + backward)."""

    macs: int
    train_flops: int


def count_work(models: list[Model], args: argparse.Namespace) -> dict[str, Work]:
    """FlopCounterMode on fake tensors (no memory, no compute), per clip."""
    shape = (1, 3, args.frames, args.size, args.size)
    counts = {m.label: count_flops(partial(build_model, m, args.frames), shape) for m in models}
    return {
        label: Work(count.macs, count.train_flops) for label, count in counts.items()
    }


def build_model(model: Model, frames: int) -> nn.Module:
    return create_model(model.name, num_frames=frames, **model.overrides)


def summary_rows(variants: list[Variant], work: dict[str, Work]) -> list[str]:
    macs = {label: w.macs for label, w in work.items()}
    rows = []
    for group in dict.fromkeys(v.group for v in variants):
        by_label = {v.model.label: v for v in variants if v.group == group}
        for what, top, bottom in COMPARISONS:
            if top in by_label and bottom in by_label:
                infer = paired_ratio(by_label[top], by_label[bottom], "infer")
                train = paired_ratio(by_label[top], by_label[bottom], "train")
                rows.append(f"| {group} | {what} | {infer:.2f}× | {train:.2f}× |")
        for label in ("bLVNet-TAM-50", "bLVNet-TAM-50 reference"):
            if BASELINE in by_label and label in by_label:
                mac_cut = macs[BASELINE] / macs[label]
                shares = [
                    paired_ratio(by_label[BASELINE], by_label[label], mode) / mac_cut
                    for mode in ("infer", "train")
                ]
                rows.append(
                    f"| {group} | share of the {mac_cut:.2f}× MAC cut realized as time, "
                    f"{label} | {shares[0]:.2f} | {shares[1]:.2f} |"
                )
    return rows


def achieved(train_flops: int, batch: int, seconds: float, peak: float | None) -> list[str]:
    """Cells: training-step TFLOP/s achieved and, where the device's peak is known, its share."""
    rate = train_flops * batch / seconds
    return [f"{rate / 1e12:.3g}", f"{100 * rate / peak:.1f} %" if peak else "–"]


def timing_rows(
    variants: list[Variant], work: dict[str, Work], batch: int, device_name: str | None
) -> list[str]:
    rows = []
    for v in variants:
        cells = [v.model.label, v.group, f"{work[v.model.label].macs / 1e9:.2f}"]
        medians = {}
        for mode in ("infer", "train"):
            seconds = sorted(v.seconds[mode])
            medians[mode] = median = statistics.median(seconds)
            cells += [f"{median * 1e3:.0f} ({seconds[0] * 1e3:.0f}–{seconds[-1] * 1e3:.0f})"]
            cells += [f"{batch / median:.2f}"]
        peak = gpu_peak_flops(device_name, v.precision, torch.backends.cudnn.allow_tf32)
        cells += achieved(work[v.model.label].train_flops, batch, medians["train"], peak)
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def device_line(device: str) -> str:
    info = {**machine(), **gpu()}
    if device == "cuda":
        return f"{info['gpu']} (CUDA {info['cuda']}, cuDNN {info['cudnn']}), torch {info['torch']}"
    return (
        f"{info['cpu']} ({info['cpu_count']} cores, {torch.get_num_threads()} torch threads), "
        f"torch {info['torch']}"
    )


def render(
    variants: list[Variant],
    work: dict[str, Work],
    args: argparse.Namespace,
    device: str,
    context: dict[str, str],
) -> str:
    tunables = os.environ.get("GLIBC_TUNABLES")
    lines = [
        "# Speed: bLVNet-TAM against its baselines at equal input frames",
        "",
        f"Generated by `{context['command']}` on {context['date']}.",
        "",
        f"- Device: {device_line(device)}",
        f"- Input: batch {args.batch} × {args.frames} frames × {args.size}², "
        f"{args.warmup} warm-up calls per variant, then {args.repeats} interleaved rounds; "
        "times are medians (min–max) in ms",
        f"- Load average (1, 5, 15 min) before: {context['load_before']}; "
        f"after: {context['load_after']}",
        f"- GLIBC_TUNABLES: {tunables or 'not set'}"
        + ("" if tunables else f" (`--tune-malloc` sets {MALLOC_TUNABLES})"),
        f"- Skipped: {context['skipped'] or 'nothing'}",
        "",
        "## Ratios (median of per-round ratios; > 1 means the first is slower)",
        "",
        "| group | comparison | inference | training step |",
        "|---|---|---|---|",
        *summary_rows(variants, work),
        "",
        "Share of the MAC cut realized as time: (t_TSN / t_bLVNet) / (MACs_TSN / MACs_bLVNet); "
        "1.0 means time falls as much as MACs. The official code gave about 0.40 on a 2-core CPU "
        "(batch 1, 224², fp32); the reference mode follows its operator sequence.",
        "",
        "## Timings",
        "",
        "| model | group | GMACs/clip | inference ms | clips/s | training step ms | clips/s "
        "| train TFLOP/s | of peak |",
        "|---|---|---|---|---|---|---|---|---|",
        *timing_rows(variants, work, args.batch, context["device_name"]),
        "",
        "Train TFLOP/s: forward + backward FLOPs of a training step (2 per MAC, counted by "
        "FlopCounterMode) over its median time. Of peak: that rate over the GPU's dense peak for "
        "the group's precision (TF32 for fp32); “–” on a CPU or an unlisted GPU.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    if args.tune_malloc:
        reexec_with_malloc_tunables()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
    groups = [g for g in args.groups.split(",") if g]
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        sys.exit(f"unknown group(s) {', '.join(unknown)}; known: {', '.join(GROUPS)}")
    skipped = [g for g in groups if g in GPU_ONLY_GROUPS and device != "cuda"]
    if skipped:
        print(f"no CUDA device: skipping GPU-only group(s) {', '.join(skipped)}", file=sys.stderr)
    by_label = {m.label: m for m in MODELS}
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    variants = [
        build_variant(by_label[label], group, args, device)
        for group in groups
        if group not in skipped
        for label in GROUPS[group][3]
    ]
    labels = dict.fromkeys(v.model.label for v in variants)
    work = count_work([by_label[label] for label in labels], args)
    run_rounds(variants, args, device)
    context = {
        "command": " ".join(["python", *sys.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "load_before": load_before,
        "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "skipped": ", ".join(f"{g} (GPU only, no CUDA here)" for g in skipped),
        "device_name": torch.cuda.get_device_name() if device == "cuda" else "",
    }
    report = render(variants, work, args, device, context)
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)


if __name__ == "__main__":
    main()
