"""One prepared check of every GPU path, that fits a few minutes of a lent GPU.

    benchmarks/gpu_check.sh [--device cuda|cpu] [--out DIR]

Steps, each in a process of its own with its own timeout (a hung or failed step costs only its
time; the steps after it still run), results as JSON beside a log per step in ``DIR``:

1. ``gate``: torch sees the device and runs a convolution forward and backward; if not, nothing
   else runs (seconds, not the whole loan, to find a broken stack).
2. ``tam``: the TAM ops on the device against the CPU ops, and the device memory their forward
   and backward allocate beyond outputs and gradients.
3. ``cli``: the CLI's GPU paths: profile and compare with memory and speed; bf16, fp16,
   channels-last, cudnn.benchmark and torch.compile; a short training run (fp16 with its
   gradient scaler on a GPU); a study run by spawned workers, and its report.
4. ``memory``: the CPU estimate beside the measured peaks (allocated and reserved) of TSN-R50 and
   bLVNet-TAM-50, fast and reference mode, at two frame counts, and the largest training batch
   within the paper's 12 GiB (its Fig. 3b).
5. ``speed``: training steps of bLVNet-TAM-50, TSN-R50 and TAM-R50 in fp32 and bf16 at a batch
   that fills most of the device, with TFLOP/s and their share of the device's peak.

Then ``gpu-check.md`` with its charts. With ``--device cpu`` the same steps run at tiny sizes (a
depth-26, width-8 net at 32²) in under 3 minutes on 2 cores: the check of the check. Everything
measured goes through the library (``blvprof.profile``) or the CLI; nothing is re-implemented.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere in the checkout

from blvprof.units import MIB, format_bytes, parse_bytes  # noqa: E402  (torch-free)

REPORT = "gpu-check.md"
MODELS = {"blvnet_tam": "bLVNet-TAM", "tsn": "TSN-R", "tam_resnet": "TAM-R"}


@dataclass(frozen=True)
class Sizes:
    """What each step runs at on one kind of device; timeouts in seconds, summing to the limit."""

    side: int  # input side of the memory and speed steps (the paper's 224² on a GPU)
    frames: tuple[int, ...]  # of the memory step; the speed step runs the first
    overrides: dict[str, Any]  # model config beyond the paper's ResNet-50 (tiny nets on a CPU)
    budget: str  # the memory step's budget (the paper's 12 GiB on a GPU)
    cli_side: int
    cli_frames: int
    warmup: int
    steps: int
    fill: float  # share of device memory the speed step's batch fills (by the estimate)
    max_speed_batch: int
    timeouts: dict[str, int] = field(default_factory=dict)

    @property
    def budget_bytes(self) -> int:
        return parse_bytes(self.budget)


GPU = Sizes(
    side=224,
    frames=(16, 32),
    overrides={},
    budget="12GiB",
    cli_side=112,
    cli_frames=8,
    warmup=3,
    steps=10,
    fill=0.6,
    max_speed_batch=128,
    timeouts={"gate": 20, "tam": 45, "cli": 140, "memory": 170, "speed": 105},  # 8 min
)
CPU = Sizes(
    side=32,
    frames=(4, 8),
    overrides={"depth": 26, "base_width": 8, "beta": 2, "num_classes": 4},
    budget="64MiB",
    cli_side=32,
    cli_frames=4,
    warmup=1,
    steps=1,
    fill=0.0,  # no device memory to fill: the smallest batch the timing needs
    max_speed_batch=2,
    # generous: on the 2-core machines here cli has taken 84-95 s and memory over 25 s, and their
    # speed varies about 3x from day to day
    timeouts={"gate": 60, "tam": 60, "cli": 300, "memory": 120, "speed": 120},  # 11 min at most
)


def sizes_for(device: str) -> Sizes:
    return GPU if device == "cuda" else CPU


# ---- steps: each runs in its own process (``--step NAME``) and returns a JSON-able dict ----


def step_gate(device: str, sizes: Sizes, out: Path) -> dict[str, Any]:
    import torch

    from blvprof.measure.env import gpu, machine

    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("torch sees no CUDA device")
    conv = torch.nn.Conv2d(3, 8, 3).to(device)
    x = torch.randn(2, 3, 16, 16, device=device)
    with torch.autocast(device, dtype=torch.bfloat16):
        conv(x).float().square().sum().backward()
    if device == "cuda":
        torch.cuda.synchronize()
    info = {**machine(), **gpu()}
    return {k: info[k] for k in ("torch", "cuda", "cudnn", "gpu", "gpu_memory_bytes", "cpu",
                                 "cudnn_allow_tf32", "matmul_allow_tf32", "git_commit")}


def step_tam(device: str, sizes: Sizes, out: Path) -> dict[str, Any]:
    """Each TAM op on the device against the CPU op, forward and backward, and on a GPU the
    memory its backward allocates beyond the gradient it returns (the old one: ~8× the output)."""
    import torch

    from model import tam_op

    torch.manual_seed(0)
    rows = []
    maps = (16, 64, 28, 28) if device == "cuda" else (8, 8, 6, 6)  # (N*T, C, H, W), T = 4
    for period, duplicated in ((1, False), (2, False), (2, True)):
        for layout in (torch.contiguous_format, torch.channels_last):
            n = maps[0] * (1 if duplicated or period == 1 else 2)
            x = torch.randn(n, *maps[1:]).to(memory_format=layout)
            weight = torch.randn(maps[1], 3)
            rows.append(_tam_case(x, weight, 4, period, duplicated, device, tam_op) | {
                "period": period, "duplicated": duplicated,
                "channels_last": layout == torch.channels_last})
    return {"cases": rows}


def _tam_case(x, weight, frames, period, duplicated, device, tam_op) -> dict[str, Any]:
    import torch

    def outputs(xi):
        if period == 1:
            return [tam_op.tam_op(xi, weight.to(xi.device), frames)]
        odd, even = tam_op.tam_pairs_op(xi, weight.to(xi.device), frames, duplicated)
        return [even, odd]

    want = outputs(x)
    grads = [torch.randn_like(y) for y in want]
    want_grads = tam_op.tam_backward(grads, x, weight, want, frames, duplicated, True)
    xd = x.to(device)
    got = outputs(xd)
    moved = [g.to(device) for g in grads]
    extra = None
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    got_grads = tam_op.tam_backward(moved, xd, weight.to(device), got, frames, duplicated, True)
    if device == "cuda":
        torch.cuda.synchronize()
        extra = torch.cuda.max_memory_allocated() - before - got_grads[0].nbytes
    error = max((a.cpu() - b).abs().max().item() for a, b in zip(got, want, strict=True))
    grad_error = max((a.cpu() - b).abs().max().item() for a, b in zip(got_grads, want_grads,
                                                                        strict=True))
    return {"max_error": error, "max_grad_error": grad_error, "output_bytes": want[0].nbytes,
            "backward_extra_bytes": extra}


def _cli(args: list[str], timeout: float, out: Path, name: str) -> dict[str, Any]:
    """One CLI invocation in its own process group (a timeout ends its workers too)."""
    command = [sys.executable, "-m", "blvprof", *args]
    started = time.perf_counter()
    status, code, text = _run(command, timeout, out / "logs" / f"cli-{name}.log")
    result = {"name": name, "command": "blvprof " + " ".join(args), "status": status,
              "returncode": code, "seconds": time.perf_counter() - started}
    if status == "ok" and "--json" in args:
        result["json"] = json.loads(text)
    return result


def _sets(sizes: Sizes, *models: str) -> list[str]:
    """``--set`` options of the step's overrides that every one of ``models`` has."""
    from model import config_fields

    common = set.intersection(*({f.name for f in config_fields(m)} for m in models))
    return [f"--set={k}={v}" for k, v in sizes.overrides.items() if k in common]


def step_cli(device: str, sizes: Sizes, out: Path) -> dict[str, Any]:
    small = ["--device", device, "--size", str(sizes.cli_side), "--frames", str(sizes.cli_frames)]
    timing = ["--warmup", str(sizes.warmup), "--steps", str(sizes.steps)]
    budget = ["--memory-budget", "2GiB" if device == "cuda" else sizes.budget]
    data = "synthetic:classes=4,samples=16"
    fp16_train = "fp16" if device == "cuda" else "fp32"  # fp16 (with its scaler) needs CUDA
    frames = f"{sizes.cli_frames},{2 * sizes.cli_frames}"  # two runs, one per worker
    trains = ["--data", data, "--epochs", "1", "--batch", "4"]
    # inductor's C++ build of a whole net takes minutes on 2 cores; the test suite compiles there
    compile_ = ["--compile"] if device == "cuda" else []
    compiled = "-compile" if compile_ else ""
    store = ["--db", str(out / "cli.db")]  # never the checkout's blvprof.db
    runs = [
        ("profile-fp32", ["profile", "blvnet_tam", *small, *_sets(sizes, "blvnet_tam"), *timing,
                          *budget, "--batch", "2", "--metrics", "flops,params,memory,speed",
                          *store, "--json"]),
        ("compare-bf16-channels-last", ["compare", "tsn", "blvnet_tam", *small,
                                        *_sets(sizes, "blvnet_tam"), *timing, *budget,
                                        "--metrics", "memory,speed", "--precision", "bf16",
                                        "--channels-last", "--cudnn-benchmark", *store,
                                        "--json"]),
        ("profile-fp16" + compiled, ["profile", "tam_resnet", *small,
                                     *_sets(sizes, "tam_resnet"), *timing, "--metrics", "speed",
                                     "--precision", "fp16", *compile_, "--json"]),
        ("train-" + fp16_train, ["train", "blvnet_tam", *small[:4], "--frames",
                                 str(sizes.cli_frames), *_sets(sizes, "blvnet_tam"), *trains,
                                 "--max-train-batches", "3", "--max-val-batches", "1",
                                 "--precision", fp16_train, "--out", str(out / "train"),
                                 *store, "--json"]),
        ("study-2-workers", ["ablate", "blvnet_tam", "--frames", frames, "--size",
                             str(sizes.cli_side), *_sets(sizes, "blvnet_tam"), *trains,
                             "--seeds", "0", "--workers", "2", "--device", device,
                             "--name", "gpu_check",
                             "--db", str(out / "study.db")]),
        ("report", ["report", "--db", str(out / "study.db"), "--out", str(out / "study")]),
    ]
    deadline = time.monotonic() + sizes.timeouts["cli"] - 10  # imports and writing: the rest
    partial = out / "cli.partial.jsonl"
    partial.unlink(missing_ok=True)
    for name, args in runs:
        left = deadline - time.monotonic()
        done = _cli(args, left, out, name) if left > 1 else {
            "name": name, "command": "blvprof " + " ".join(args), "status": "skipped (no time)"}
        with partial.open("a") as file:
            file.write(json.dumps(done) + "\n")
    return {"runs": _jsonl(partial)}


def _profile(model: str, overrides: dict[str, Any], **request: Any) -> dict[str, Any]:
    from blvprof.measure.env import Flags
    from blvprof.profile import ProfileRequest, profile

    flags = Flags(**request.pop("flags", {}))
    record = profile(ProfileRequest(model=model, overrides=overrides, flags=flags, **request))
    record.pop("config")
    return record


def _config(model: str, sizes: Sizes, frames: int, reference: bool = False) -> dict[str, Any]:
    """The step's sizes as overrides of ``model``'s config (fields it lacks left out)."""
    from model import config_fields

    wanted = {**sizes.overrides, "image_size": sizes.side, "num_frames": frames}
    if reference:
        wanted["reference"] = True
    fields = {f.name for f in config_fields(model)}
    return {k: v for k, v in wanted.items() if k in fields}


def step_memory(device: str, sizes: Sizes, out: Path) -> dict[str, Any]:
    """Estimate beside measurement per configuration, appended as each finishes (a timeout
    keeps those done)."""
    budget = sizes.budget_bytes
    partial = out / "memory.partial.jsonl"
    partial.unlink(missing_ok=True)
    for frames in sizes.frames:
        for model, reference in (("tsn", False), ("blvnet_tam", False), ("blvnet_tam", True)):
            overrides = _config(model, sizes, frames, reference)
            row = {"model": model, "reference": reference, "frames": frames}
            common = {"metrics": ("memory",), "batch": 2, "budget_bytes": budget}
            row["estimate"] = _profile(model, overrides, device="cpu", **common)["memory"]
            if device == "cuda":
                row["measured"] = _profile(model, overrides, device="cuda", **common)["memory"]
            with partial.open("a") as file:
                file.write(json.dumps(row) + "\n")
    return {"budget_bytes": budget, "rows": _jsonl(partial)}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def speed_batch(device: str, sizes: Sizes, memory: dict[str, Any] | None) -> int:
    """The batch of the speed step: what the estimate says fills ``sizes.fill`` of the device
    with the hungriest model's training step at the first frame count (fp32), within limits."""
    if device != "cuda" or not memory:
        return sizes.max_speed_batch
    import torch

    total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
    fits = [
        (sizes.fill * total - r["estimate"]["fixed_bytes"]) // r["estimate"]["per_clip_bytes"]
        for r in memory["rows"]
        if r["frames"] == sizes.frames[0] and not r["reference"]
    ]
    return int(max(1, min([sizes.max_speed_batch, *fits])))


def step_speed(device: str, sizes: Sizes, out: Path) -> dict[str, Any]:
    memory = _read(out / "memory.json") or {"rows": _jsonl(out / "memory.partial.jsonl")}
    batch = speed_batch(device, sizes, memory.get("result", memory))
    frames = sizes.frames[0]
    partial = out / "speed.partial.jsonl"
    partial.unlink(missing_ok=True)
    for precision in ("fp32", "bf16"):
        for model in MODELS:
            record = _profile(
                model, _config(model, sizes, frames), metrics=("flops", "speed"), batch=batch,
                device=device, warmup=sizes.warmup, steps=sizes.steps, counter="flop_counter",
                flags={"precision": precision, "cudnn_benchmark": device == "cuda"},
            )
            row = {"model": model, "precision": precision, "frames": frames,
                   "macs": record["macs"], "train_flops": record["train_flops"],
                   "speed": record["speed"], "env": record["env"]}
            with partial.open("a") as file:
                file.write(json.dumps(row) + "\n")
    return {"batch": batch, "rows": _jsonl(partial)}


STEPS = {"gate": step_gate, "tam": step_tam, "cli": step_cli, "memory": step_memory,
         "speed": step_speed}


# ---- the driver: one process per step, each with its timeout ----


def _run(command: list[str], timeout: float, log: Path) -> tuple[str, int | None, str]:
    """Run ``command`` in a new process group with stdout kept and stderr to ``log``; on timeout
    end the whole group (spawned workers and searches included)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as err:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True,
                                   cwd=ROOT, start_new_session=True)
        try:
            text, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            text, _ = process.communicate()
            return f"timeout after {timeout:.0f} s", None, text
    return ("ok" if process.returncode == 0 else "failed"), process.returncode, text


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def run_step(name: str, device: str, out: Path, timeout: float) -> dict[str, Any]:
    command = [sys.executable, __file__, "--step", name, "--device", device, "--out", str(out)]
    started = time.perf_counter()
    status, code, _ = _run(command, timeout, out / "logs" / f"{name}.log")
    done = {"step": name, "status": status, "returncode": code,
            "seconds": time.perf_counter() - started, "timeout_s": timeout}
    saved = _read(out / f"{name}.json")
    if status == "ok" and saved is not None:
        done["result"] = saved["result"]
    else:  # what a step that failed or ran out of time finished before
        partial = _jsonl(out / f"{name}.partial.jsonl")
        if partial:
            done["result"] = {"rows": partial, "partial": True}
        done["error"] = _last_lines(out / "logs" / f"{name}.log")
    (out / f"{name}.json").write_text(json.dumps(done, indent=1, default=str))
    print(f"[gpu_check] {name}: {status} in {done['seconds']:.0f} s", file=sys.stderr, flush=True)
    return done


def _last_lines(log: Path, n: int = 6) -> str:
    lines = [line for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
    return "\n".join(lines[-n:])


def default_out(device: str, gate: dict[str, Any]) -> Path:
    name = (gate.get("result") or {}).get("gpu") or "cuda"
    return ROOT / "reports" / ("gpu-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"))


def check_out(device: str, out: Path | None) -> None:
    """A CPU check never writes over the committed reports."""
    if device == "cpu" and (out is None or out.resolve().is_relative_to(ROOT / "reports")):
        raise SystemExit("--device cpu needs --out DIR outside reports/ (the committed reports)")


def drive(device: str, out: Path | None) -> Path:
    check_out(device, out)
    sizes = sizes_for(device)
    staging = Path(tempfile.mkdtemp(prefix="gpu-check-")) if out is None else out
    staging.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = [run_step("gate", device, staging, sizes.timeouts["gate"])]
    if results[0]["status"] == "ok":
        results += [run_step(name, device, staging, sizes.timeouts[name])
                    for name in STEPS if name != "gate"]
    if out is None:  # the GPU's name came with the gate
        out = default_out(device, results[0])
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", f"{staging}/.", str(out)], check=True)
    path = render(results, out, device, sizes, time.perf_counter() - started)
    print(f"[gpu_check] report: {path}", file=sys.stderr)
    return path


# ---- the report ----


def _label(model: str, sizes: Sizes, reference: bool = False) -> str:
    from blvprof.report.summary import model_label

    return model_label(model, sizes.overrides.get("depth", 50), {"reference": reference})


def _steps_section(results: list[dict[str, Any]], seconds: float) -> str:
    from blvprof.report.markdown import table

    rows = [[s["step"], s["status"], f"{s['seconds']:.0f}", f"{s['timeout_s']:.0f}",
             (s.get("error") or "").splitlines()[-1:][0] if s.get("error") else ""]
            for s in results]
    ran = {s["step"] for s in results}
    rows += [[name, "not run (the gate failed)", "–", "–", ""] for name in STEPS if name not in ran]
    return "\n\n".join([
        "## Steps",
        f"All steps in {seconds:.0f} s. Each ran in its own process under its own timeout; "
        "logs are in `logs/`, results in `<step>.json`.",
        table(["step", "status", "s", "timeout s", "last error line"], rows, "llrrl"),
    ])


def _environment_section(gate: dict[str, Any] | None) -> str:
    if not gate:
        return "## Environment\n\nThe gate reported nothing."
    from blvprof.report.markdown import table

    rows = [[k, v if k != "gpu_memory_bytes" or v is None else format_bytes(v)]
            for k, v in gate.items()]
    return "## Environment\n\n" + table(["", "value"], rows, "ll")


def _tam_section(result: dict[str, Any] | None) -> str:
    heading = "## 1. TAM ops on the device"
    if not result:
        return f"{heading}\n\nNo result (see the steps table)."
    from blvprof.report.markdown import table

    rows = []
    for c in result["cases"]:
        op = "tam" if c["period"] == 1 else "tam_pairs" + (" (duplicated)" if c["duplicated"]
                                                           else "")
        extra = c["backward_extra_bytes"]
        share = f"{extra / c['output_bytes']:.2f}× the output" if extra is not None else "–"
        rows.append([op, "channels-last" if c["channels_last"] else "contiguous",
                     f"{c['max_error']:.1e}", f"{c['max_grad_error']:.1e}", share])
    return "\n\n".join([
        heading,
        "Largest difference from the CPU op (forward, gradients), and the device memory the "
        "backward allocates beyond the input gradient it returns (the weight gradient and "
        "reduction buffers are tiny; before the compiled kernels this was about 8× the output).",
        table(["op", "layout", "forward error", "gradient error", "backward beyond grad"], rows,
              "llrrr"),
    ])


def _cli_section(result: dict[str, Any] | None) -> str:
    heading = "## 2. CLI paths"
    if not result:
        return f"{heading}\n\nNo result (see the steps table)."
    from blvprof.report.markdown import table

    runs = result["rows"] if result.get("partial") else result["runs"]
    rows = [[r["name"], r["status"], f"{r.get('seconds', 0):.0f}", f"`{r['command']}`"]
            for r in runs]
    return "\n\n".join(p for p in [heading, _partial_note(result),
                                   table(["run", "status", "s", "command"], rows, "llrl")] if p)


def _memory_section(result: dict[str, Any] | None, sizes: Sizes, device: str, out: Path) -> str:
    heading = "## 3. Memory: the estimate beside the measured peaks, and Fig. 3b"
    if not result or not result.get("rows"):
        return f"{heading}\n\nNo result (see the steps table)."
    from blvprof.report.markdown import table, times

    rows = []
    for r in result["rows"]:
        est, got = r["estimate"], r.get("measured") or {}
        alloc, reserved = got.get("train_peak_bytes"), got.get("train_reserved_bytes")
        rows.append([
            _label(r["model"], sizes, r["reference"]), r["frames"],
            format_bytes(est["train_peak_bytes"]),
            format_bytes(alloc) if alloc else "–", format_bytes(reserved) if reserved else "–",
            times(est["train_peak_bytes"] / alloc) if alloc else "–",
            format_bytes(est["per_clip_bytes"]),
            format_bytes(got["per_clip_bytes"]) if got else "–",
            est["max_batch"], got.get("max_batch", "–"),
            _paper_batch(r) if sizes is GPU else "–",
        ])
    budget = format_bytes(sizes.budget_bytes)
    parts = [
        heading,
        _partial_note(result),
        f"A training step (forward, loss, backward, SGD-momentum, steady state) at batch 2, "
        f"{sizes.side}², fp32. Estimate: MemTracker on fake tensors (CPU, no memory used). "
        "Measured: the CUDA caching allocator's peaks, allocated (what tensors hold, what the "
        "estimate predicts) and reserved (what the allocator took from the device). Max batch "
        f"within {budget}: the estimate's fit against the search on the device (largest batch "
        "whose allocated peak stays within the budget); the paper's Fig. 3b beside them"
        + ("." if device == "cuda" else " (a CPU run: tiny nets, no measured column)."),
        table(["model", "frames", "estimate", "allocated", "reserved", "estimate ÷ allocated",
               "MiB/clip estimate", "MiB/clip measured", f"max batch in {budget}: estimate",
               "measured", "paper"], rows, "lrrrrrrrrrr"),
    ]
    parts += [_memory_chart(result["rows"], sizes, out), _fig3b_chart(result, sizes, out)]
    return "\n\n".join(p for p in parts if p)


def _partial_note(result: dict[str, Any]) -> str:
    if not result.get("partial"):
        return ""
    return (f"**Incomplete:** the step ran out of time or failed (see the steps table); "
            f"below are the configurations it finished ({len(result['rows'])}).")


def _paper_batch(row: dict[str, Any]) -> Any:
    from blvprof.report.paper import FIG3B_BLVNET_TAM_50, FIG3B_TSN_R50

    figure = FIG3B_TSN_R50 if row["model"] == "tsn" else FIG3B_BLVNET_TAM_50
    return "–" if row["reference"] else figure.get(row["frames"], "–")


def _memory_chart(rows: list[dict[str, Any]], sizes: Sizes, out: Path) -> str:
    from matplotlib.figure import Figure

    from blvprof.report.markdown import image

    labels = [f"{_label(r['model'], sizes, r['reference'])}\n{r['frames']}f" for r in rows]
    kinds = [("estimate", lambda r: r["estimate"]["train_peak_bytes"]),
             ("allocated", lambda r: (r.get("measured") or {}).get("train_peak_bytes")),
             ("reserved", lambda r: (r.get("measured") or {}).get("train_reserved_bytes"))]
    figure = Figure(figsize=(9, 4), dpi=110)
    ax = figure.add_subplot()
    width = 0.8 / len(kinds)
    for i, (kind, value) in enumerate(kinds):
        ys = [(value(r) or 0) / MIB for r in rows]
        ax.bar([x + i * width for x in range(len(rows))], ys, width, label=kind)
    ax.set_xticks([x + width for x in range(len(rows))], labels, fontsize=7)
    ax.set_ylabel("training step peak (MiB)")
    ax.set_title("Estimate beside measured peaks, batch 2", fontsize=10)
    ax.legend(fontsize=8)
    png = out / "gpu-check-memory.png"
    figure.savefig(png, bbox_inches="tight")
    return image("Estimated and measured training peaks", png, out)



def _fig3b_chart(result: dict[str, Any], sizes: Sizes, out: Path) -> str:
    from blvprof.report import charts
    from blvprof.report.markdown import image
    from blvprof.report.paper import FIG3B_BLVNET_TAM_50, FIG3B_TSN_R50

    ours = []
    for model in ("tsn", "blvnet_tam"):
        rows = [r for r in result["rows"] if r["model"] == model and not r["reference"]]
        for method in ("measured", "estimate"):
            points = [(r["frames"], r[method]["max_batch"]) for r in rows if r.get(method)]
            if points:
                xs, ys = zip(*points, strict=True)
                ours.append(charts.Series(f"{_label(model, sizes)} ({method})", xs, ys, model,
                                          sizes.overrides.get("depth", 50)))
    paper = [charts.Series(_label(m, sizes), tuple(f), tuple(f.values()), m, 50)
             for m, f in (("tsn", FIG3B_TSN_R50), ("blvnet_tam", FIG3B_BLVNET_TAM_50))]
    budget = format_bytes(sizes.budget_bytes)
    png = charts.max_batch_vs_frames(ours, paper if sizes is GPU else [],
                                     out / "gpu-check-fig3b.png",
                                     f"Largest training batch in {budget} ({sizes.side}²)")
    return image("Largest training batch against input frames", png, out)


def _speed_section(result: dict[str, Any] | None, sizes: Sizes, out: Path) -> str:
    heading = "## 4. Training speed"
    if not result or not result.get("rows"):
        return f"{heading}\n\nNo result (see the steps table)."
    from blvprof.report import charts
    from blvprof.report.markdown import image, number, percent, table

    rows, infer, train = [], [], []
    for r in result["rows"]:
        sp, label = r["speed"], _label(r["model"], sizes)
        achieved, peak = sp.get("achieved_train_flops_per_s"), sp.get("peak_flops_per_s")
        rows.append([label, r["precision"], sp["batch"], number(sp["train_ms"], 0),
                     number(sp["train_clips_per_s"]), number(achieved / 1e12 if achieved else None),
                     number(peak / 1e12 if peak else None, 0), percent(sp.get("peak_fraction"))])
        gmacs = r["macs"] / 1e9
        infer.append(charts.Point(label, gmacs, sp["infer_clips_per_s"], r["precision"],
                                  r["model"]))
        train.append(charts.Point(label, gmacs, sp["train_clips_per_s"], r["precision"],
                                  r["model"]))
    env = result["rows"][0]["env"]
    png = charts.speed_vs_gmacs(infer, train, out / "gpu-check-speed.png",
                                f"Clips/s vs GMACs on {env.get('device_name')}")
    return "\n\n".join(p for p in [
        heading,
        _partial_note(result),
        f"Median of {sizes.steps} training steps after {sizes.warmup} warm-up steps, "
        f"{r['frames']} frames at {sizes.side}², batch {sp['batch']} for every model"
        + (f" (what the fp32 estimate says fills about {sizes.fill:.0%} of the device)"
           if sizes is GPU else "")
        + ", cudnn.benchmark on a GPU. TFLOP/s: FlopCounterMode's forward + backward FLOPs "
        "over the step's median time; "
        "peak: the device's dense figure at that precision (TF32 for fp32 where cuDNN allows it: "
        f"cudnn.allow_tf32 = {env.get('cudnn_allow_tf32')}).",
        table(["model", "precision", "batch", "train step ms", "clips/s", "TFLOP/s",
               "peak TFLOP/s", "share of peak"], rows, "llrrrrrr"),
        image("Clips per second against GMACs per clip", png, out),
    ] if p)


def render(results: list[dict[str, Any]], out: Path, device: str, sizes: Sizes,
           seconds: float) -> Path:
    by_step = {s["step"]: s.get("result") for s in results}
    gate = by_step.get("gate") or {}
    where = gate.get("gpu") if device == "cuda" else f"the CPU ({gate.get('cpu')}), tiny sizes"
    parts = [
        f"# GPU check on {where}",
        f"Generated by `benchmarks/gpu_check.sh --device {device}` at commit "
        f"{gate.get('git_commit')}.",
        _steps_section(results, seconds),
        _tam_section(by_step.get("tam")),
        _cli_section(by_step.get("cli")),
        _memory_section(by_step.get("memory"), sizes, device, out),
        _speed_section(by_step.get("speed"), sizes, out),
        _environment_section(gate),
    ]
    path = out / REPORT
    path.write_text("\n\n".join(parts) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--out", type=Path, help="default: reports/gpu-<device>/ (GPU only)")
    parser.add_argument("--step", choices=tuple(STEPS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step is None:
        path = drive(args.device, args.out)
        failed = [s for s in _read_steps(path.parent) if s["status"] != "ok"]
        sys.exit(1 if failed else 0)
    sizes = sizes_for(args.device)
    result = STEPS[args.step](args.device, sizes, args.out)
    (args.out / f"{args.step}.json").write_text(json.dumps({"result": result}, default=str))


def _read_steps(out: Path) -> list[dict[str, Any]]:
    return [s for s in (_read(out / f"{name}.json") for name in STEPS) if s is not None]


if __name__ == "__main__":
    main()
