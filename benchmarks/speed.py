"""Interleaved A/B timing of bLVNet-TAM against its baselines at equal input frames (issue #6).

    python benchmarks/speed.py [--size 160] [--frames 16] [--depth 50] [--batch 1] [--repeats 9]
        [--warmup 2] [--out reports/speed.md] [--groups fp32,channels_last]

Every model is built once; after warm-up, each round times one inference and one training step
of every variant in turn, so a change in the machine's load hits all variants alike. Ratios are
medians of per-round ratios. Everything else is the library's: the steps, the model's set-up
(channels-last, torch.compile) and the CPU allocator's (``blvprof.measure.speed``), each timed
call (``time_calls``), the counts (``blvprof.profile.measure``), each variant's record (a
``blvprof.records.Profile`` with its ``Speed``) and the markdown (``blvprof.report.markdown``).
The share of the MAC cut realized as time is (t_TSN / t_bLVNet) / (MACs_TSN / MACs_bLVNet) at
equal input frames: 1.0 means time falls as much as MACs do. Groups: ``fp32`` and
``channels_last`` run anywhere; ``bf16`` and ``compile`` (bf16, channels-last, torch.compile) run
only on a GPU and are skipped, with a note, without one.
"""

import argparse
import dataclasses
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from blvprof.measure import speed
from blvprof.measure.env import environment
from blvprof.profile import measure
from blvprof.records import (
    Counter,
    Device,
    Environment,
    Flags,
    Metric,
    Precision,
    Profile,
    Request,
    Timing,
)
from blvprof.report.markdown import environment_block, number, table, times
from blvprof.report.summary import summarize
from model import create_model

GPU_ONLY_GROUPS = ("bf16", "compile")
BASELINE = "tsn"
# Variants by name: the registered model and how it differs from the standard one
MODELS: dict[str, tuple[str, dict[str, bool]]] = {
    "blvnet_tam": ("blvnet_tam", {}),
    "blvnet_tam_reference": ("blvnet_tam", {"reference": True}),
    "tsn": ("tsn", {}),
    "tam_resnet": ("tam_resnet", {}),
    "tam_resnet_reference": ("tam_resnet", {"reference": True}),
    "tsm": ("tsm", {}),
    "tsm_reference": ("tsm", {"reference": True}),
}
FAST = ["blvnet_tam", BASELINE, "tam_resnet", "tsm"]
# The flags and models of each group; reference modes run only as fp32.
GROUPS: dict[str, tuple[Flags, list[str]]] = {
    "fp32": (Flags(), list(MODELS)),
    "channels_last": (Flags(channels_last=True), FAST),
    "bf16": (Flags(Precision.BF16, channels_last=True), FAST),
    "compile": (Flags(Precision.BF16, channels_last=True, compiled=True), FAST),
}
COMPARISONS = (  # (numerator, denominator): a time ratio within one group
    ("blvnet_tam_reference", "blvnet_tam"),
    ("tam_resnet_reference", "tam_resnet"),
    ("tam_resnet", BASELINE),
    ("tsm", BASELINE),
    (BASELINE, "blvnet_tam"),
)
MODES = ("infer", "train")


@dataclass
class Variant:
    """One model in one group: its counts, what is timed, and the seconds of each round."""

    name: str
    group: str
    flags: Flags
    counted: Profile  # MACs and training FLOPs per clip
    runner: nn.Module
    steps: speed.Steps
    seconds: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MODES})

    @property
    def label(self) -> str:
        return str(summarize(self.counted)["label"])

    def time_once(self, mode: str, warmup: int, device: str) -> float:
        self.runner.train(mode == "train")
        step = self.steps.train if mode == "train" else self.steps.infer
        return speed.time_calls(step, warmup, 1, device).median_s


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=160, help="frame side in pixels")
    parser.add_argument("--frames", type=int, default=16, help="input frames (8×2 = 16)")
    parser.add_argument("--depth", type=int, default=50, help="ResNet depth of every model")
    parser.add_argument("--batch", type=int, default=1, help="clips per step")
    parser.add_argument("--repeats", type=int, default=9, help="interleaved timed rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per variant")
    parser.add_argument("--groups", default="fp32,channels_last,bf16,compile")
    parser.add_argument("--out", type=Path, default=Path("reports/speed.md"))
    return parser.parse_args()


def overrides_of(name: str, args: argparse.Namespace) -> dict[str, object]:
    return {"depth": args.depth, "num_frames": args.frames, "image_size": args.size,
            **MODELS[name][1]}


def count(name: str, args: argparse.Namespace) -> Profile:
    """MACs and training FLOPs per clip, on fake tensors (FlopCounterMode)."""
    return measure(Request(MODELS[name][0], overrides_of(name, args),
                           metrics=(Metric.FLOPS,), counter=Counter.FLOP_COUNTER))


def build_variant(name: str, group: str, counted: Profile, args: argparse.Namespace,
                  device: str) -> Variant:
    flags = GROUPS[group][0]
    torch.manual_seed(0)
    net = create_model(MODELS[name][0], **overrides_of(name, args))
    runner = speed.prepare(net, device, flags.channels_last, flags.compiled)
    shape = (args.batch, 3, args.frames, args.size, args.size)
    steps = speed.steps(runner, shape, device, flags.precision, net.config.num_classes)
    return Variant(name, group, flags, counted, runner, steps)


def run_rounds(variants: list[Variant], args: argparse.Namespace, device: str) -> None:
    for variant in variants:
        for mode in MODES:
            variant.time_once(mode, args.warmup, device)
    for round_index in range(args.repeats):
        for variant in variants:
            for mode in MODES:
                variant.seconds[mode].append(variant.time_once(mode, 0, device))
        print(f"round {round_index + 1}/{args.repeats} done", file=sys.stderr)


def record_of(variant: Variant, args: argparse.Namespace, device: str) -> Profile:
    """The variant's record: its counts, its timings as the library's Speed, its environment."""
    timings = [speed.summarize(variant.seconds[mode]) for mode in MODES]
    shape = (args.batch, 3, args.frames, args.size, args.size)
    counts = variant.counted.counts
    allocator = speed.keep_freed_memory() if device == Device.CPU else None
    timed = speed.speed_record(*timings, shape, device, variant.flags.precision,
                               counts.train_flops if counts else None, allocator)
    env = Environment.from_row(environment(device, variant.flags))
    return dataclasses.replace(variant.counted, speed=timed, env=env)


def paired_ratio(numerator: Variant, denominator: Variant, mode: str) -> float:
    """Median over rounds of the ratio of two variants' times in the same round."""
    pairs = zip(numerator.seconds[mode], denominator.seconds[mode], strict=True)
    return statistics.median(a / b for a, b in pairs)


def ratio_rows(variants: list[Variant]) -> list[list[str]]:
    rows = []
    for group in dict.fromkeys(v.group for v in variants):
        by_name = {v.name: v for v in variants if v.group == group}
        for top, bottom in COMPARISONS:
            if top in by_name and bottom in by_name:
                a, b = by_name[top], by_name[bottom]
                rows.append([group, f"{a.label} / {b.label}",
                             *(times(paired_ratio(a, b, mode)) for mode in MODES)])
        for name in ("blvnet_tam", "blvnet_tam_reference"):
            if BASELINE in by_name and name in by_name:
                base, ours = by_name[BASELINE], by_name[name]
                mac_cut = base.counted.counts.macs / ours.counted.counts.macs
                rows.append([group, f"share of the {mac_cut:.2f}× MAC cut realized as time, "
                             f"{ours.label}",
                             *(number(paired_ratio(base, ours, mode) / mac_cut)
                               for mode in MODES)])
    return rows


def _ms(t: Timing) -> str:
    """'183 (170–189)': the median and range of a timing, in ms."""
    return f"{t.median_s * 1e3:.0f} ({t.min_s * 1e3:.0f}–{t.max_s * 1e3:.0f})"


def timing_rows(variants: list[Variant], records: list[Profile]) -> list[list[str]]:
    rows = []
    for variant, record in zip(variants, records, strict=True):
        s = record.speed
        assert s is not None and record.counts is not None
        share = "–" if s.peak_fraction is None else f"{100 * s.peak_fraction:.1f} %"
        rows.append([variant.label, variant.group, number(record.counts.macs / 1e9),
                     _ms(s.infer), number(s.infer_clips_per_s), _ms(s.train),
                     number(s.train_clips_per_s),
                     f"{(s.achieved_train_flops_per_s or 0) / 1e12:.3g}", share])
    return rows


def render(variants: list[Variant], records: list[Profile], args: argparse.Namespace,
           context: dict[str, str]) -> str:
    allocators = sorted({r.speed.cpu_allocator for r in records
                         if r.speed and r.speed.cpu_allocator})
    parts = [
        "# Speed: bLVNet-TAM against its baselines at equal input frames",
        f"Generated by `{context['command']}` on {context['date']}.",
        "\n".join([
            f"- Input: batch {args.batch} × {args.frames} frames × {args.size}², depth "
            f"{args.depth}, {args.warmup} warm-up calls per variant, then {args.repeats} "
            "interleaved rounds; times are medians (min–max) in ms",
            f"- Load average (1, 5, 15 min) before: {context['load_before']}; "
            f"after: {context['load_after']}",
            f"- CPU allocator: {'; '.join(allocators) or 'not set up (GPU)'}",
            f"- Skipped: {context['skipped'] or 'nothing'}",
        ]),
        "## Ratios (median of per-round ratios; > 1 means the first is slower)",
        table(["group", "comparison", "inference", "training step"], ratio_rows(variants),
              "llrr"),
        "Share of the MAC cut realized as time: (t_TSN / t_bLVNet) / (MACs_TSN / MACs_bLVNet); "
        "1.0 means time falls as much as MACs. The official code gave about 0.40 on a 2-core CPU "
        "(batch 1, 224², fp32); the reference mode follows its operator sequence.",
        "## Timings",
        table(["model", "group", "GMACs/clip", "inference ms", "clips/s", "training step ms",
               "clips/s", "train TFLOP/s", "of peak"], timing_rows(variants, records),
              "ll" + "r" * 7),
        "Train TFLOP/s: forward + backward FLOPs of a training step (2 per MAC, counted by "
        "FlopCounterMode) over its median time. Of peak: that rate over the GPU's dense peak for "
        "the group's precision (TF32 for fp32); “–” on a CPU or an unlisted GPU.",
        "## Environment",
        environment_block([{"env": r.env.to_row()} for r in records if r.env]),
    ]
    return "\n\n".join(parts) + "\n"


def main() -> None:
    args = parse_args()
    device = Device.CUDA if torch.cuda.is_available() else Device.CPU
    if device == Device.CUDA:
        torch.backends.cudnn.benchmark = True
    groups = [g for g in args.groups.split(",") if g]
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        sys.exit(f"unknown group(s) {', '.join(unknown)}; known: {', '.join(GROUPS)}")
    skipped = [g for g in groups if g in GPU_ONLY_GROUPS and device != Device.CUDA]
    if skipped:
        print(f"no CUDA device: skipping GPU-only group(s) {', '.join(skipped)}", file=sys.stderr)
    if device == Device.CPU:
        speed.keep_freed_memory()  # before any model is built, as a profile's timing does
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    chosen = [(name, g) for g in groups if g not in skipped for name in GROUPS[g][1]]
    counted = {name: count(name, args) for name in dict.fromkeys(name for name, _ in chosen)}
    variants = [build_variant(name, g, counted[name], args, device) for name, g in chosen]
    run_rounds(variants, args, device)
    records = [record_of(v, args, device) for v in variants]
    context = {
        "command": " ".join(["python", *sys.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "load_before": load_before,
        "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "skipped": ", ".join(f"{g} (GPU only, no CUDA here)" for g in skipped),
    }
    report = render(variants, records, args, context)
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)


if __name__ == "__main__":
    main()
