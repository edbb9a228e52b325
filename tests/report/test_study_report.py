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
        "| model | α | β | GMACs | top-1 | top-5 | best top-1 | within-pair acc. | s/epoch |"
        in text
    )
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


def _summary(label: str, family: str, pair_mean: float, pairs: dict[str, float]) -> dict:
    return {"label": label, "family": family, "pair_mean": pair_mean, "pairs": pairs,
            "fields": {}}


def test_pair_reading_names_blind_and_aware_models_and_unlearned_pairs() -> None:
    from blvprof.report.study_train import pair_reading

    summaries = [
        _summary("TSN-R26", "tsn", 0.52, {"a|b": 0.55, "c|d": 0.49}),
        _summary("TAM-R26", "tam_resnet", 0.80, {"a|b": 1.0, "c|d": 0.60}),
        _summary("I3D-R26", "i3d", 0.75, {"a|b": 0.9, "c|d": 0.60}),
    ]
    lines = pair_reading(summaries, [])
    assert len(lines) == 3
    assert "TSN-R26 52.0 %" in lines[0] and "TAM" not in lines[0]
    assert "75.0 % to 80.0 %" in lines[1] and "best: TAM-R26" in lines[1]
    assert "c from d" in lines[2] and "best 60.0 %" in lines[2]
    summaries[1]["pairs"]["c|d"] = 0.9  # learned by one run: no line for it
    assert len(pair_reading(summaries, [])) == 2


def test_alpha_beta_heatmap_averages_seeds(tmp_path: Path, monkeypatch) -> None:
    from blvprof.report import charts, study_accuracy

    seen = {}

    def capture(alphas, betas, cells, path, title):
        seen.update(cells=cells, title=title)
        return path

    monkeypatch.setattr(charts, "accuracy_heatmap", capture)
    summaries = [
        {"label": "bLVNet-TAM-50", "family": "blvnet_tam", "top1": top1,
         "fields": {"config.alpha": a, "config.beta": 2, "train.seed": seed}}
        for a, seed, top1 in [(1, 0, 0.2), (1, 1, 0.6), (2, 0, 0.5), (2, 1, 0.7)]
    ]
    fields = ["config.alpha", "train.seed"]
    study_accuracy.alpha_beta_chart(summaries, fields, tmp_path, "ab")
    assert seen["cells"] == pytest.approx({(1, 2): 0.4, (2, 2): 0.6})
    assert "mean of 2 seeds" in seen["title"]


def test_runs_that_learned_nothing_are_named_and_left_out_of_the_comparison() -> None:
    from blvprof.report.study_train import pair_reading

    summaries = [
        {**_summary("TSN-R26", "tsn", 0.52, {"a|b": 0.55}), "top1": 0.33, "num_classes": 10},
        {**_summary("bLVNet-26", "blvnet", 0.49, {"a|b": 0.49}), "top1": 0.12, "num_classes": 10},
        {**_summary("TAM-R26", "tam_resnet", 0.90, {"a|b": 0.9}), "top1": 0.85, "num_classes": 10},
        {**_summary("bLVNet-TAM-26", "blvnet_tam", 0.54, {"a|b": 0.54}), "top1": 0.138,
         "num_classes": 10},
    ]
    lines = pair_reading(summaries, [])
    assert lines[0].startswith("Learned nothing (final top-1 below 1.5× chance): bLVNet-26")
    assert "bLVNet-TAM-26" in lines[0] and "(chance 10.0 %)" in lines[0]
    assert "TSN-R26 52.0 %" in lines[1] and "bLVNet-26" not in lines[1]
    assert "90.0 % within pairs" in lines[2] and "bLVNet-TAM-26" not in lines[2]


def test_seed_reading_names_the_widest_spread_between_seeds() -> None:
    from blvprof.report.study_train import seed_reading

    def run(alpha: int, seed: int, top1: float) -> dict:
        fields = {"config.alpha": alpha, "train.seed": seed}
        return {"label": "bLVNet-TAM-50", "top1": top1, "fields": fields}

    fields = ["config.alpha", "train.seed"]
    summaries = [run(1, 0, 0.80), run(1, 1, 0.78), run(2, 0, 0.70), run(2, 1, 0.115)]
    text = seed_reading(summaries, fields)
    assert text.startswith("top-1 moves by up to 58.5 points between seeds")
    assert "(bLVNet-TAM-50 α2: 11.5 % to 70.0 %)" in text
    assert seed_reading(summaries[::2], fields) == ""  # one seed per configuration
