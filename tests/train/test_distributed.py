"""Data-parallel training on two CPU processes over gloo, launched the way torchrun would."""

import json
import os
import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp

from blvprof.train import train_model
from blvprof.train.checkpoint import CHECKPOINT_FILE
from tests.train.common import quick_spec, tiny

WORLD_SIZE = 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _process(rank: int, port: int, out_dir: Path) -> None:
    """One torchrun-style process: its record goes to rank<N>.json."""
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(WORLD_SIZE),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    spec = quick_spec(epochs=2, batch=4)
    record = train_model("tam_resnet", tiny("tam_resnet"), spec, device="cpu", out_dir=out_dir)
    (out_dir / f"rank{rank}.json").write_text(json.dumps(record))


def test_two_gloo_processes_train_and_rank_0_reports(tmp_path: Path) -> None:
    mp.spawn(_process, args=(_free_port(), tmp_path), nprocs=WORLD_SIZE, join=True)
    record = json.loads((tmp_path / "rank0.json").read_text())
    assert json.loads((tmp_path / "rank1.json").read_text()) == {}
    assert record["world_size"] == WORLD_SIZE
    assert [e["epoch"] for e in record["history"]] == [1, 2]
    assert record["steps_per_epoch"] == 2  # 16 clips, 8 per process, batches of 4
    assert record["val_clips"] == 4 and 0 <= record["top1"] <= 1
    assert (tmp_path / CHECKPOINT_FILE).is_file()
    assert not torch.distributed.is_initialized()
