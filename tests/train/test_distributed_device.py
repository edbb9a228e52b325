"""A distributed CUDA run chooses its GPU before it joins the process group, and names it."""

import pytest
import torch

from blvprof.train import distributed


def test_cuda_process_sets_its_device_before_joining(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append(("set_device", d)))
    monkeypatch.setattr(
        distributed.dist, "init_process_group", lambda **kw: calls.append(("init", kw))
    )
    monkeypatch.setattr(distributed.dist, "destroy_process_group", lambda: calls.append("leave"))
    with distributed.process_group("cuda") as processes:
        assert processes.local_rank == 1
    gpu = torch.device("cuda", 1)
    assert calls == [
        ("set_device", gpu),
        ("init", {"backend": "nccl", "device_id": gpu}),
        "leave",
    ]


def test_cpu_process_joins_with_gloo(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: pytest.fail("no GPU to choose"))
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda **kw: calls.append(kw))
    monkeypatch.setattr(distributed.dist, "destroy_process_group", lambda: None)
    with distributed.process_group("cpu"):
        pass
    assert calls == [{"backend": "gloo"}]
