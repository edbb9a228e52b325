"""Study reports and the index from fixture rows: tables, charts, verdict sentences, links."""

from pathlib import Path
from typing import Any

import pytest

from blvprof.report.study_report import render_store, render_study
from tests.report.checks import assert_png, links

COMMAND = "blvprof report --db runs.db --out reports"


@pytest.fixture(scope="module")
def out(
    paper_rows: list[dict[str, Any]],
    study_rows: list[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    folder = tmp_path_factory.mktemp("reports")
    written = render_store(paper_rows + study_rows, folder, COMMAND)
    assert [p.name for p in written] == [
        "paper-claims.md",
        "ablation-alpha-beta.md",
        "ablation-frames-tam.md",
        "paper_claims.md",
        "tsn_vs_blvnet.md",
        "index.md",
    ]
    return folder


def test_every_link_resolves_and_every_png_is_valid(out: Path) -> None:
    for markdown in out.glob("*.md"):
        for target in links(markdown):
            assert target.is_file(), (markdown.name, target.name)
            if target.suffix == ".png":
                assert_png(target)
    linked = {t.name for m in out.glob("*.md") for t in links(m)}
    assert {p.name for p in out.glob("*.png")} <= linked


def test_index_links_every_report(out: Path) -> None:
    assert {t.name for t in links(out / "index.md")} == {
        p.name for p in out.glob("*.md") if p.name != "index.md"
    }


def test_profile_study_has_ratios_memory_method_and_charts(out: Path) -> None:
    text = (out / "tsn_vs_blvnet.md").read_text()
    assert "Ratios are to TSN-R50 at the same depth, frames and input size" in text
    assert "Memory: estimated (MemTracker on fake tensors, CPU)" in text
    assert "| bLVNet-TAM-50 | 50 | 16 | 23.85 |" in text
    assert "GMACs/clip ratio" in text and "0.36×" in text
    assert {t.name for t in links(out / "tsn_vs_blvnet.md")} == {
        "tsn_vs_blvnet-gmacs-vs-frames.png",
        "tsn_vs_blvnet-max-batch-vs-frames.png",
    }


def test_alpha_beta_study(out: Path) -> None:
    text = (out / "ablation-alpha-beta.md").read_text()
    assert (
        "| model | α | β | GMACs | seeds | learned | top-1 | top-1 95 % CI | within-pair "
        "| within-pair 95 % CI | pair identity | s/epoch |" in text
    )
    assert "| bLVNet-TAM-50 | 2 | 4 | 3.29 | 1 | 1/1 | 68.0 % | – |" in text
    assert "Each configuration has one seed" in text
    assert "an order-blind model such as TSN sits at ~50 %" in text
    assert "| bLVNet-TAM-50 | 8 | 4 |" not in text  # the failed α=8 run is not a result…
    assert "| bLVNet-TAM-50 | 8 | train | oom | blvnet_tam-alpha8-beta4-f8 |" in text  # …but listed
    assert {t.name for t in links(out / "ablation-alpha-beta.md")} == {
        "ablation-alpha-beta-accuracy-vs-gmacs.png",
        "ablation-alpha-beta-alpha-beta.png",
        "ablation-alpha-beta-pair-accuracy.png",
    }


def test_frames_study_has_accuracy_vs_frames_and_no_heatmap(out: Path) -> None:
    text = (out / "ablation-frames-tam.md").read_text()
    assert "| model | frames | GMACs |" in text
    assert "bLVNet-50 (no TAM)" in text
    names = {t.name for t in links(out / "ablation-frames-tam.md")}
    assert "ablation-frames-tam-accuracy-vs-frames.png" in names
    assert "ablation-frames-tam-alpha-beta.png" not in names


def test_a_study_of_failures_only_still_renders(tmp_path: Path) -> None:
    failed = {
        "study": "broken",
        "key": "k",
        "kind": "train",
        "model": "tsn",
        "family": "tsn",
        "config": {"depth": 50, "num_frames": 8},
        "settings": {},
        "result": None,
        "env": None,
        "status": "error",
        "error": "ValueError: bad data",
    }
    text = render_study([failed], tmp_path, "broken", COMMAND).read_text()
    assert "| TSN-R50 | 8 | train | error | k | ValueError: bad data |" in text
    assert "No environment was recorded." in text
