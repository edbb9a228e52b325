"""The paper-claims report from fixture rows: sections, numbers, verdicts, charts and links."""

from pathlib import Path
from typing import Any

import pytest

from blvprof.report.claims import render_paper_claims
from tests.report.checks import assert_png, links

COMMAND = "blvprof reproduce --quick"


@pytest.fixture(scope="module")
def report(paper_rows: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("claims")
    return render_paper_claims(paper_rows, out, COMMAND, quick=True)


def test_writes_markdown_with_sections_in_order(report: Path) -> None:
    assert report.name == "paper-claims.md"
    text = report.read_text()
    headings = [
        "## a. Paper rows",
        "## b. FLOPs claim",
        "## c. Memory claim",
        "## d. Speed next to MACs",
        "## Failed runs",
        "## Environment",
    ]
    positions = [text.index(h) for h in headings]
    assert positions == sorted(positions)
    assert text.rstrip().endswith(f"Regenerate with: `{COMMAND}`")
    assert "**Quick run:**" in text


def test_links_exist_and_charts_are_pngs(report: Path) -> None:
    targets = links(report)
    assert {t.name for t in targets} == {
        "paper-claims-gmacs-vs-frames.png",
        "paper-claims-max-batch-vs-frames.png",
        "paper-claims-speed-vs-gmacs.png",
    }
    for target in targets:
        assert_png(target)


def test_paper_rows_match(report: Path) -> None:
    text = report.read_text()
    assert "| bLVNet-TAM-101 | 64 | 128.6 | 128.60 |" in text
    assert "All 12 measured figures are within 0.5 % of the paper." in text


def test_flops_verdicts_for_a_pair_within_and_one_below(report: Path) -> None:
    text = report.read_text()
    assert "TSN-R101 vs bLVNet-TAM-101: 3.88× fewer MACs — within the claimed 3–4×" in text
    assert (
        "TSN-R50 vs bLVNet-TAM-50: 2.74× fewer MACs — below the claimed 3–4× "
        "(the claim holds for the 101-layer pair only)"
    ) in text
    assert "holds for the 101-layer pair (3.88×) but not for the 50-layer pair (2.74×)" in text


def test_memory_section_states_method_budget_and_verdict(report: Path) -> None:
    text = report.read_text()
    memory = text[text.index("## c.") : text.index("## d.")]
    assert "estimated (MemTracker on fake tensors, CPU)" in memory
    assert "12.00 GiB" in memory
    assert "| 16 | 9 | 18 | 2.00× | 16 | 1.78× | 10 | 17 | 1.70× |" in memory
    assert "about 2×, as the paper claims" in memory


def test_memory_section_sets_the_reference_mode_beside_the_fast_model(report: Path) -> None:
    memory = report.read_text().split("## c.")[1].split("## d.")[0]
    assert "| bLVNet-TAM-50 reference mode max batch | ratio (reference mode) |" in memory
    note = memory.split("**Verdict:**")[1]
    assert "the official code, whose operator sequence our reference mode" in note
    assert "bLVNet-TAM-50 in reference mode needs 1.74–1.78× less training memory" in note
    assert "the paper's own batches give 1.70× at 16 frames and 2.00× at 32 frames." in note


def test_reference_rows_stay_out_of_the_flops_pairs(report: Path) -> None:
    flops = report.read_text().split("## b.")[1].split("## c.")[0]
    assert "reference mode" not in flops


def test_speed_section_defines_the_share_and_names_the_size(report: Path) -> None:
    speed = report.read_text().split("## d.")[1].split("## Failed runs")[0]
    assert "**Realized share** = (t_TSN ÷ t_model) ÷ (MACs_TSN ÷ MACs_model)" in speed
    assert "Timed at 112² input, not the paper's 224²" in speed
    assert "cpu (AMD EPYC)" in speed
    assert "bLVNet-TAM-50 at 16 frames:" in speed


def test_failed_runs_are_listed(report: Path) -> None:
    failed = report.read_text().split("## Failed runs")[1].split("## Environment")[0]
    assert "| I3D-R101 | 64 | profile | oom |" in failed
    assert "| TSM-R101 | 64 | profile | error |" in failed
    assert "something \\| broke" in failed


def test_without_speed_or_memory_rows_the_report_says_so(
    paper_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    counted = []
    for row in paper_rows:
        if row["result"] and "speed" not in row["result"]:
            result = {k: v for k, v in row["result"].items() if k != "memory"}
            counted.append({**row, "result": result})
    text = render_paper_claims(counted, tmp_path, COMMAND, quick=False).read_text()
    assert "No configuration in this study was timed" in text
    assert "No memory figures for TSN-R50 or bLVNet-TAM-50" in text
    assert "None: every run finished." in text
    assert "**Quick run:**" not in text
    assert [t.name for t in links(tmp_path / "paper-claims.md")] == [
        "paper-claims-gmacs-vs-frames.png"
    ]


def test_memory_measured_on_a_gpu_is_named(
    paper_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    gpu = "NVIDIA H100 80GB HBM3"
    measured = []
    for row in paper_rows:
        if row["result"] and "memory" in row["result"]:
            memory = {**row["result"]["memory"], "method": "cuda", "max_batch_method": "search"}
            row = {
                **row,
                "result": {**row["result"], "memory": memory},
                "env": {**row["env"], "device": "cuda", "device_name": gpu},
            }
        measured.append(row)
    text = render_paper_claims(measured, tmp_path, COMMAND, quick=False).read_text()
    memory = text[text.index("## c.") : text.index("## d.")]
    assert f"Ours are measured on {gpu}" in memory
    assert "found by trying batches until the GPU ran out of memory" in memory
    assert "MemTracker" not in memory
