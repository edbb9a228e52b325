"""A store with CPU and GPU rows of one study: each device is reported apart, never merged."""

from pathlib import Path
from typing import Any

import pytest

from blvprof.report.claims import render_paper_claims
from blvprof.report.profiles import by_device, merge_by_config, profile_summaries
from blvprof.report.study_report import render_study

GPU = "NVIDIA H200"
GPU_MAX_BATCH = 777  # a figure no CPU row has


def _on_gpu(row: dict[str, Any]) -> dict[str, Any]:
    """A hand-made GPU row: the CPU row's counts, a measured max batch, timed on the GPU."""
    result = dict(row["result"])
    if "memory" in result:
        result["memory"] = {
            **result["memory"],
            "method": "cuda",
            "max_batch_method": "search",
            "max_batch": GPU_MAX_BATCH,
        }
    if "speed" in result:
        result["speed"] = {**result["speed"], "device": "cuda", "infer_clips_per_s": 1234.5}
    env = {**row["env"], "device": "cuda", "device_name": GPU}
    return {**row, "key": row["key"] + "-gpu", "result": result, "env": env}


@pytest.fixture(scope="module")
def mixed(paper_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # the CPU rows first: a "first value wins" merge would show only CPU figures
    return paper_rows + [_on_gpu(r) for r in paper_rows if r["status"] == "ok" and r["result"]]


def test_summaries_are_grouped_gpus_first(mixed: list[dict[str, Any]]) -> None:
    groups = by_device(profile_summaries(mixed))
    assert list(groups) == [GPU, "CPU"]
    assert {s["max_batch"] for s in groups[GPU] if "max_batch" in s} == {GPU_MAX_BATCH}
    assert GPU_MAX_BATCH not in {s.get("max_batch") for s in groups["CPU"]}


def test_merging_rows_of_two_devices_is_refused(mixed: list[dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match="several devices"):
        merge_by_config(profile_summaries(mixed))


def test_report_shows_each_device_apart(mixed: list[dict[str, Any]], tmp_path: Path) -> None:
    text = render_paper_claims(mixed, tmp_path, "blvprof report", quick=True).read_text()
    gpu_part = text[text.index(f"## On {GPU}") : text.index("## On CPU")]
    cpu_part = text[text.index("## On CPU") : text.index("## Failed runs")]
    assert str(GPU_MAX_BATCH) in gpu_part and f"measured on {GPU}" in gpu_part
    assert str(GPU_MAX_BATCH) not in cpu_part and f"measured on {GPU}" not in cpu_part
    assert "1234.5" not in cpu_part
    for part in (gpu_part, cpu_part):
        assert "### a. Paper rows" in part and "### d. Speed next to MACs" in part
    charts = sorted(p.name for p in tmp_path.glob("*.png"))
    assert any("nvidia-h200" in name for name in charts)
    assert any(name.startswith("paper-claims-cpu-") for name in charts)


def test_one_device_renders_as_before(paper_rows: list[dict[str, Any]], tmp_path: Path) -> None:
    text = render_paper_claims(paper_rows, tmp_path, "blvprof report", quick=True).read_text()
    assert "## On " not in text and "\n## a. Paper rows" in text


def _study_on_gpu(row: dict[str, Any]) -> dict[str, Any]:
    """A hand-made GPU row of a study: the CPU row's counts, its figures that depend on the
    device (max batch, epoch time) changed to values no CPU row has."""
    gpu = _on_gpu(row)
    if row["kind"] == "train":
        train = {**row["result"]["train"], "seconds_per_epoch": GPU_EPOCH_S}
        gpu["result"] = {**gpu["result"], "train": train}
    return gpu


GPU_EPOCH_S = 4321.0  # seconds per epoch no CPU row has


@pytest.mark.parametrize("study", ["tsn_vs_blvnet", "alpha_beta"])
def test_a_study_report_renders_each_device_apart(study: str, study_rows, tmp_path: Path) -> None:
    cpu_rows = [r for r in study_rows if r["study"] == study]
    gpu_rows = [_study_on_gpu(r) for r in cpu_rows if r["status"] == "ok"]
    text = render_study(cpu_rows + gpu_rows, tmp_path, study, "blvprof report").read_text()
    gpu_start, cpu_start = text.index(f"on {GPU}\n"), text.index("on CPU\n")
    assert gpu_start < cpu_start  # GPUs first, then the CPU
    gpu_part, cpu_part = text[gpu_start:cpu_start], text[cpu_start:text.index("## Failed runs")]
    figure = f"| {GPU_MAX_BATCH} |" if study == "tsn_vs_blvnet" else f"{GPU_EPOCH_S:,.1f}"
    assert figure in gpu_part and figure not in cpu_part
    if study == "tsn_vs_blvnet":
        assert f"measured on {GPU}" in gpu_part and "estimated" in cpu_part
        assert "estimated" not in gpu_part and f"measured on {GPU}" not in cpu_part
    cpu_only = render_study(cpu_rows, tmp_path / "cpu", study, "blvprof report").read_text()
    assert "on CPU" not in cpu_only  # one device: as before
