"""The training part of a study report from hand-made rows with three seeds per configuration:
estimates with intervals, which differences exceed the noise, the paper's accuracy verdicts,
benchmarks kept apart."""

from pathlib import Path
from typing import Any

import pytest

from blvprof.report.study_report import render_study
from blvprof.report.study_train import train_section
from tests.report.checks import links

COMMAND = "blvprof report --db runs.db --out reports"
PAIRS = ("move_left|move_right", "rotate_clockwise|rotate_counterclockwise")


def train_row(
    study: str,
    family: str,
    seed: int,
    top1: float,
    within: float,
    identity: float = 1.0,
    *,
    frames: int = 8,
    macs: int = 10**9,
    benchmark: str | None = "synthetic-v2",
    **config: Any,
) -> dict[str, Any]:
    """A finished training run as the store returns it."""
    config = {"depth": 26, "num_frames": frames, "num_classes": 10, **config}
    data = "synthetic:classes=10,samples=1600" + (",version=2" if benchmark else "")
    train = {
        "data": data, "epochs": 5, "batch": 16, "lr": 0.02, "size": 64, "seed": seed,
        "top1": top1, "top5": 0.99, "best_top1": top1, "seconds_per_epoch": 30.0,
        "pair_accuracy": dict.fromkeys(PAIRS, within), "pair_accuracy_mean": within,
        "pair_identity": dict.fromkeys(PAIRS, identity), "pair_identity_mean": identity,
        "num_classes": 10,
    }
    if benchmark:
        train["benchmark"] = benchmark
    return {
        "study": study, "key": f"{family}-{frames}-{seed}-{benchmark}-{config}", "kind": "train",
        "model": family, "family": family, "config": config, "settings": {},
        "result": {"macs": macs, "params": 1, "train": train}, "env": {"device": "cpu"},
        "status": "ok", "error": None, "started_at": "2026-12-01T00:00:00+00:00",
    }


def temporal_rows() -> list[dict[str, Any]]:
    """TSN at the order-blind ceiling, TAM-ResNet and bLVNet-TAM well above; bLVNet-TAM on par
    with TAM-ResNet, at 2.5× fewer MACs."""
    rows = []
    for seed, (tsn, tam, ours) in enumerate([(0.50, 0.90, 0.905), (0.49, 0.91, 0.91),
                                             (0.51, 0.92, 0.915)]):
        rows.append(train_row("tm", "tsn", seed, tsn, 0.50, macs=10**9))
        rows.append(train_row("tm", "tam_resnet", seed, tam, 0.93, macs=10**9))
        rows.append(train_row("tm", "blvnet_tam", seed, ours, 0.92, macs=4 * 10**8, beta=2))
    return rows


def test_configurations_show_mean_sd_and_interval(tmp_path: Path) -> None:
    text = train_section(temporal_rows(), tmp_path, "tm")
    assert "Benchmark: synthetic-v2." in text
    assert "(3 per configuration)" in text
    # TSN: 0.49, 0.50, 0.51 → mean 50.0, sd 1.0; 95 % CI 50 ± 4.302653 · 1 / √3 = ±2.48
    assert "| TSN-R26 | 1.00 | 3 | 3/3 | 50.0 ± 1.0 % | [47.5, 52.5] |" in text
    assert "**Seed noise:** the standard deviation of top-1 between seeds is at most 1.0" in text
    assert "Every run learned (pair identity at least 60.0 %" in text


def test_peer_differences_and_the_accuracy_verdict(tmp_path: Path) -> None:
    text = train_section(temporal_rows(), tmp_path, "tm")
    assert "### Which differences are larger than the noise" in text
    assert "| bLVNet-TAM-26 vs TSN-R26 | – | +41.0 | [38.9, 43.1] | < 0.001 |" in text
    assert "larger than its uncertainty" in text and "within the noise" in text
    assert "### The paper's accuracy claim: on par or better at a fraction of the cost" in text
    line = next(x for x in text.splitlines() if x.startswith("- bLVNet-TAM-26 vs TAM-R26"))
    assert "at 2.50× fewer GMACs" in line and "the claim holds (on par" in line


def test_a_worse_model_gets_a_verdict_that_does_not_hold(tmp_path: Path) -> None:
    rows = [r for r in temporal_rows() if r["family"] != "blvnet_tam"]
    rows += [train_row("tm", "blvnet_tam", s, t, 0.8, macs=4 * 10**8, beta=2)
             for s, t in enumerate([0.70, 0.72, 0.71])]
    text = train_section(rows, tmp_path, "tm")
    line = next(x for x in text.splitlines() if x.startswith("- bLVNet-TAM-26 vs TAM-R26"))
    assert "-20.0 points" in line and "does not hold (worse)" in line


def frames_rows(ours: list[list[float]]) -> list[dict[str, Any]]:
    """TSN flat at 50 %, bLVNet-TAM at the given top-1 per frames (4, 8, 16) and seed."""
    rows = []
    for frames, seeds in zip((4, 8, 16), ours, strict=True):
        for seed, top1 in enumerate(seeds):
            rows.append(train_row("fr", "tsn", seed, 0.50 + 0.01 * (seed - 1), 0.5, frames=frames))
            rows.append(train_row("fr", "blvnet_tam", seed, top1, 0.9, frames=frames, beta=2))
    return rows


def test_frames_trend_verdict(tmp_path: Path) -> None:
    rising = frames_rows([[0.70, 0.71, 0.72], [0.80, 0.81, 0.82], [0.90, 0.91, 0.92]])
    text = train_section(rising, tmp_path, "fr")
    assert "| TSN-R26 | +0.0 points |" in text and "| flat |" in text
    assert "| bLVNet-TAM-26 | +10.0 points |" in text and "| rising |" in text
    assert "frames=16 vs frames=4" in text
    assert "The paper's trend holds here." in text
    assert "fr-accuracy-vs-frames.png" in text
    flat = frames_rows([[0.80, 0.70, 0.90], [0.75, 0.85, 0.80], [0.90, 0.70, 0.80]])
    assert "The paper's trend does not hold here." in train_section(flat, tmp_path, "fr")
    saturated = frames_rows([[1.0, 0.995, 1.0], [1.0, 1.0, 0.995], [1.0, 1.0, 1.0]])
    text = train_section(saturated, tmp_path, "fr")
    assert "at the benchmark's ceiling from 4 frames on (top-1 99.8 %)" in text
    assert "the trend cannot be tested on this benchmark" in text
    assert "The paper's trend" not in text
    rising_to_it = frames_rows([[0.93, 0.97, 0.95], [1.0, 1.0, 0.995], [1.0, 1.0, 1.0]])
    assert "The paper's trend holds here." in train_section(rising_to_it, tmp_path, "fr")
    capped = frames_rows([[0.90, 1.0, 0.95], [1.0, 1.0, 0.995], [1.0, 1.0, 1.0]])
    text = train_section(capped, tmp_path, "fr")
    assert "at the benchmark's ceiling from 8 frames on (top-1 99.8 %)" in text
    assert ("from 4 to 8 frames, top-1 changes by +4.8 points (95 % CI [-7.5, 17.2], within the "
            "noise): with the ceiling this close, the benchmark cannot test the trend.") in text


def test_runs_that_did_not_learn_are_named(tmp_path: Path) -> None:
    rows = temporal_rows()
    rows[0] = train_row("tm", "tsn", 0, 0.11, 0.5, identity=0.21)
    text = train_section(rows, tmp_path, "tm")
    assert "**Did not learn** (pair identity at least 60.0 %" in text
    assert "TSN-R26 seed 0 (pair identity 21.0 %, top-1 11.0 %)" in text
    assert "| 3 | 2/3 |" in text


def test_benchmark_versions_never_mix(tmp_path: Path) -> None:
    old = [train_row("tm", "tsn", s, 0.2, 0.5, identity=0.3, benchmark=None) for s in range(3)]
    text = render_study(temporal_rows() + old, tmp_path, "tm", COMMAND).read_text()
    assert "## Training results on synthetic-v2" in text
    assert "## Training results on synthetic-v1" in text
    assert text.index("on synthetic-v2") < text.index("on synthetic-v1")
    v1 = text[text.index("## Training results on synthetic-v1"):]
    assert "TAM-R26" not in v1.split("## Failed runs")[0]
    for target in links(tmp_path / "ablation-tm.md"):
        assert target.is_file()


def test_one_seed_per_configuration_says_so(tmp_path: Path) -> None:
    rows = [r for r in temporal_rows() if r["result"]["train"]["seed"] == 0]
    text = train_section(rows, tmp_path, "tm")
    assert "Each configuration has one seed" in text
    assert "one seed: no interval" in text


@pytest.mark.parametrize("alpha_cells", [{1: [0.80, 0.82, 0.81], 4: [0.70, 0.71, 0.72]}])
def test_alpha_difference_is_stated_with_its_interval(
    tmp_path: Path, alpha_cells: dict[int, list[float]]
) -> None:
    rows = [
        train_row("ab", "blvnet_tam", seed, top1, 0.9, alpha=alpha, beta=beta)
        for alpha, seeds in alpha_cells.items()
        for beta in (1, 2)
        for seed, top1 in enumerate(seeds)
    ]
    text = train_section(rows, tmp_path, "ab")
    row = next(x for x in text.splitlines() if x.startswith("| α=4 vs α=1 |"))
    assert "| -10.0 |" in row and "larger than its uncertainty" in row
    assert "| β=2 vs β=1 |" in text
    assert "ab-alpha-beta.png" in text


def test_pair_reading_names_blind_and_aware_models_and_unlearned_pairs(tmp_path: Path) -> None:
    rows = temporal_rows()
    for row in rows:  # no model tells the rotation pair apart
        row["result"]["train"]["pair_accuracy"][PAIRS[1]] = 0.55
    reading = train_section(rows, tmp_path, "tm").split("**Reading:**")[1]
    assert "TSN-R26 50.0 ± 0.0 %, against 50 % for a model blind to frame order" in reading
    assert "92.0 % to 93.0 % within pairs (mean over seeds; best: TAM-R26)" in reading
    assert "No configuration tells rotate_clockwise from rotate_counterclockwise apart" in reading
