"""Profile the whole paper grid (MACs, parameters, memory estimate) and print its wall time.

    python benchmarks/grid.py [--study studies/paper_claims.toml] [--workers 2] [--counter ...]

The grid is the study's [[grid]] points (56 configurations: bLVNet-TAM 50/101 at 16–64 frames,
and bLVNet-TAM-50 in reference mode; TSN, TAM-ResNet and TSM 50/101 at 8–64; I3D 50/101 at
8–64), profiled into a fresh temporary store so nothing is reused. 43 s on the 2-core EPYC with
two workers (``benchmarks/NOTES.md`` §7); since then about 0.7× of that code's time, measured
interleaved on a slow day (§9: 153–176 s before, 109–117 s after). The target is under 30 s;
§10 measures what is left (two training passes per configuration, 77 % of the time). Since §11
the memory estimate makes a third training pass (at batch 4) so that its largest batch is the
largest whose own peak fits: about 1.4x the time (29–32 s before, 37–48 s after, on a fast day).
"""

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

from blvprof.store import Store
from blvprof.study import load_study
from blvprof.sweep import plan, progress_printer, resolve_target, run_tasks

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, default=ROOT / "studies" / "paper_claims.toml")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--counter", choices=["flop_counter", "fvcore"], default=None,
                        help="override the study's MAC counter")
    args = parser.parse_args()
    study = load_study(args.study)
    if args.counter:
        study = dataclasses.replace(
            study, measure=dataclasses.replace(study.measure, counter=args.counter))
    study = dataclasses.replace(study, speed=None)  # the grid only: no timing runs
    target = resolve_target(study.measure.device)
    tasks = plan(study, store_name="grid-benchmark", target=target)
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "grid.db") as store:
        start = time.perf_counter()
        summary = run_tasks(tasks, store, workers=args.workers,
                            on_done=progress_printer(len(tasks)))
        wall = time.perf_counter() - start
    print(f"paper grid: {summary.planned} configurations ({summary.ok} ok, {summary.failed} "
          f"failed), metrics {', '.join(study.measure.metrics)}, counter {study.measure.counter}, "
          f"{args.workers} worker processes on {os.cpu_count()} CPUs: {wall:.1f} s wall")
    sys.exit(1 if summary.failed else 0)


if __name__ == "__main__":
    main()
