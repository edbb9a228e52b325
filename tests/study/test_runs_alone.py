"""Memory searches on a GPU run one at a time: each would count the others' memory as free."""

import pytest

from blvprof import sweep
from blvprof.records import Request


def _task(device: str, metrics: list[str]) -> sweep.Task:
    return sweep.Task("s", f"{device}-{'-'.join(metrics)}",
                      Request("tsn", metrics=tuple(metrics), device=device))


@pytest.mark.parametrize(
    ("device", "metrics", "alone"),
    [
        ("cuda", ["flops", "memory"], True),
        ("auto", ["memory"], True),  # may resolve to a GPU in the worker
        ("cpu", ["flops", "memory"], False),  # an estimate on fake tensors shares nothing
        ("cuda", ["flops", "params"], False),
        ("cpu", ["speed"], True),
    ],
)
def test_which_runs_run_alone(device: str, metrics: list[str], alone: bool) -> None:
    assert sweep.runs_alone(_task(device, metrics)) is alone


def test_gpu_memory_searches_are_not_run_side_by_side(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(sweep, "run_local",
                        lambda tasks, workers, *_: calls.append((workers, [t.key for t in tasks]))
                        or iter(()))
    tasks = [_task("cuda", ["memory"]), _task("cpu", ["memory"]), _task("cuda", ["flops"])]
    list(sweep._local_outcomes(tasks, workers=4))
    assert calls == [(4, ["cpu-memory", "cuda-flops"]), (1, ["cuda-memory"])]
