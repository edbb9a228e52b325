"""`blvprof reproduce` and `blvprof ablate` end to end, on small studies (same code paths)."""

import tomllib
from pathlib import Path

import pytest

from blvprof.records import Request
from blvprof.store import Store
from blvprof.sweep import Task, _local_outcomes
from tests.cli.run import run

SMALL_CLAIMS = """
[study]
name = "paper_claims"
[measure]
metrics = ["flops", "params", "memory"]
counter = "flop_counter"
memory_budget = "1GiB"
[defaults]
base_width = 8  # narrow nets at the paper's 224² (the claims report reads 224² rows)
image_size = 224
num_classes = 174
[[grid]]
model = ["blvnet_tam", "tsn"]
depth = 50
num_frames = [4, 8]
[speed]
size = 64
quick_size = 32
warmup = 0
quick_steps = 1
[[speed.grid]]
model = ["tsn", "blvnet_tam"]
depth = 50
num_frames = 4
[resources]
workers = 2
"""
PNG = b"\x89PNG\r\n\x1a\n"


def test_reproduce_writes_report_and_charts_then_reuses_the_store(tmp_path, capsys,
                                                                   monkeypatch) -> None:
    study, db, out = tmp_path / "claims.toml", tmp_path / "r.db", tmp_path / "reports"
    study.write_text(SMALL_CLAIMS)
    args = ["reproduce", "--quick", "--study", str(study), "--db", str(db), "--out", str(out)]
    first = run(args, capsys, monkeypatch)
    assert first.code == 0, first.err
    report = out / "paper-claims.md"
    assert first.out.strip() == str(report)
    text = report.read_text()
    for heading in ("Paper rows", "FLOPs claim", "Memory claim", "Speed next to MACs"):
        assert heading in text
    charts = sorted(out.glob("paper-claims-*.png"))
    assert len(charts) >= 3
    assert all(chart.read_bytes().startswith(PNG) for chart in charts)
    for chart in charts:
        assert f"({chart.name})" in text  # linked from the report
    with Store(db) as store:
        rows = len(store.runs(study="paper_claims-quick"))
    again = run(args, capsys, monkeypatch)
    assert again.code == 0 and "0 ran, 6 reused" in again.err
    with Store(db) as store:
        assert len(store.runs(study="paper_claims-quick")) == rows == 6


def test_ablate_inline_grid_writes_its_study_and_resumes(tmp_path, capsys, monkeypatch) -> None:
    db = tmp_path / "ab" / "r.db"
    args = ["ablate", "blvnet_tam", "--alpha", "1,2", "--depth", "26", "--frames", "4",
            "--size", "64", "--set", "base_width=8", "--set", "beta=2", "--db", str(db)]
    first = run(args, capsys, monkeypatch)
    assert first.code == 0, first.err
    (spec,) = db.parent.glob("ablate-*.toml")
    grid = tomllib.loads(spec.read_text())["grid"][0]
    assert grid["alpha"] == [1, 2] and grid["beta"] == [2]
    again = run(["ablate", str(spec), "--db", str(db)], capsys, monkeypatch)
    assert again.code == 0 and "0 ran, 2 reused" in again.err


def test_ablate_bad_input(tmp_path, capsys, monkeypatch) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[grid]]\nmodel = 'tsn'\nwidth = [1]\n")
    cases = [
        (["ablate", str(bad)], "grid[0]: tsn has no field 'width'"),
        (["ablate", "tsn", "--frames", "4,x"], "--num_frames must be a comma list"),
        (["ablate", "tsn", "--executor", "slurm"], "'slurm' is not one of 'local', 'ray'"),
        (["ablate", "tsn", "--frames", "0"], "must be positive"),
    ]
    for args, message in cases:
        result = run([*args, "--db", str(tmp_path / "r.db")], capsys, monkeypatch)
        assert result.code == 2 and message in result.err, (args, result.err)
        assert len(result.err.strip().splitlines()) == 1


@pytest.mark.parametrize("verb", ["reproduce", "ablate"])
def test_cuda_without_gpu_is_refused_before_any_run(verb, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    study, db = tmp_path / "claims.toml", tmp_path / "r.db"
    study.write_text(SMALL_CLAIMS)
    target = ["reproduce", "--study", str(study), "--out", str(tmp_path)] \
        if verb == "reproduce" else ["ablate", str(study)]
    result = run([*target, "--device", "cuda", "--db", str(db)], capsys, monkeypatch)
    assert result.code == 2, result.err
    (line,) = result.err.strip().splitlines()
    assert "no CUDA GPU" in line
    assert not db.exists() and not (tmp_path / "paper-claims.md").exists()


def test_a_study_file_device_is_used_when_no_device_is_given(tmp_path, capsys,
                                                              monkeypatch) -> None:
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    study = tmp_path / "s.toml"
    study.write_text("[measure]\ndevice = 'cuda'\n[[grid]]\nmodel = 'tsn'\n")
    result = run(["ablate", str(study), "--db", str(tmp_path / "r.db")], capsys, monkeypatch)
    assert result.code == 2 and "no CUDA GPU" in result.err


def test_ray_on_a_cluster_with_auto_device_is_refused(tmp_path, capsys, monkeypatch) -> None:
    study = tmp_path / "s.toml"
    study.write_text("[[grid]]\nmodel = 'tsn'\n")
    result = run(["ablate", str(study), "--executor", "ray", "--address", "ray://head:10001",
                  "--db", str(tmp_path / "r.db")], capsys, monkeypatch)
    assert result.code == 2 and "--address needs --device cpu or cuda" in result.err


def test_timed_runs_go_last_alone_with_every_core(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr("blvprof.sweep.run_local",
                        lambda tasks, workers, *_: calls.append((tasks, workers)) or iter(()))
    monkeypatch.setattr("os.cpu_count", lambda: 8)

    def task(key: str, metrics: list[str]) -> Task:
        return Task("s", key, Request("tsn", metrics=tuple(metrics), device="cpu"))

    list(_local_outcomes([task("t", ["speed"]), task("a", ["flops"]), task("b", ["memory"])], 4))
    (untimed, workers_a), (timed, workers_b) = calls
    assert [t.key for t in untimed] == ["a", "b"] and workers_a == 4
    assert all(t.threads == 2 for t in untimed)
    assert [t.key for t in timed] == ["t"] and workers_b == 1 and timed[0].threads == 8


def test_reproduce_finds_the_packaged_study() -> None:
    from blvprof.cli.study import find_paper_study

    assert find_paper_study() == Path(__file__).resolve().parents[2] / "studies" / \
        "paper_claims.toml"
