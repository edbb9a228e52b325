"""Every chart writes a readable PNG; the Pareto front and the style choice are right."""

from pathlib import Path

from blvprof.report import charts
from blvprof.report.charts import Point, Series
from tests.report.checks import assert_png

LINES = [
    Series("TSN-R50", (8.0, 16.0, 32.0), (32.7, 65.4, 130.8), "tsn", 50),
    Series("bLVNet-TAM-50", (16.0, 32.0), (23.9, 47.7), "blvnet_tam", 50),
    Series("TSN-R101", (8.0, 16.0, 32.0), (62.4, 124.8, 249.6), "tsn", 101),
]


def test_line_charts_write_pngs(tmp_path: Path) -> None:
    paper = [Series("TSN-R50", (16.0, 32.0), (10.0, 4.0), "tsn", 50)]
    batches = [Series("TSN-R50", (16.0, 32.0), (9.0, 4.0), "tsn", 50)]
    written = [
        charts.gmacs_vs_frames(LINES, tmp_path / "g.png", "GMACs"),
        charts.max_batch_vs_frames(batches, paper, tmp_path / "b.png", "batch\nestimated"),
        charts.accuracy_vs_frames(LINES[:2], tmp_path / "sub" / "a.png", "top-1"),
    ]
    assert written == [tmp_path / "g.png", tmp_path / "b.png", tmp_path / "sub" / "a.png"]
    for path in written:
        assert_png(path)


def test_scatter_heatmap_and_bars_write_pngs(tmp_path: Path) -> None:
    infer = [
        Point("TSN-R50", 16.4, 3.1, "16f 112²", "tsn"),
        Point("bLVNet-TAM-50", 6.0, 4.0, "16f", "blvnet_tam"),
    ]
    train = [
        Point("TSN-R50", 16.4, 1.0, "", "tsn"),
        Point("bLVNet-TAM-50", 6.0, 1.4, "", "blvnet_tam"),
    ]
    cells = {(1, 2): 0.7, (2, 4): 0.68, (4, 2): 0.6}
    written = [
        charts.speed_vs_gmacs(infer, train, tmp_path / "s.png", "speed"),
        charts.accuracy_vs_gmacs(infer, tmp_path / "p.png", "pareto"),
        charts.accuracy_heatmap([1, 2, 4], [2, 4], cells, tmp_path / "h.png", "α×β"),
        charts.pair_accuracy_bars(
            [
                Point("TSN-R50", 0, 0.5, "TSN-R50", "tsn"),
                Point("bLVNet-TAM-50", 0, 0.9, "", "blvnet_tam"),
            ],
            tmp_path / "bars.png",
            "pairs",
        ),
    ]
    for path in written:
        assert_png(path)


def test_pareto_front_keeps_only_undominated_points() -> None:
    points = [(10.0, 0.60), (5.0, 0.50), (20.0, 0.55), (7.0, 0.65), (30.0, 0.70), (7.0, 0.40)]
    assert charts.pareto_front(points) == [1, 3, 4]


def test_styles_follow_family_and_depth_or_fall_back_to_a_palette() -> None:
    by_family = charts.styles([("tsn", 50), ("tsn", 101), ("blvnet_tam", 50)])
    assert by_family[0].colour == by_family[1].colour != by_family[2].colour
    assert by_family[0].linestyle != by_family[1].linestyle
    repeated = charts.styles([("blvnet_tam", 50), ("blvnet_tam", 50)])
    assert repeated[0].colour != repeated[1].colour
    assert repeated[0].marker != repeated[1].marker


def test_a_line_hidden_under_an_earlier_one_says_so_in_the_legend() -> None:
    tsn = charts.Series("TSN-R50", (8.0, 16.0), (32.7, 65.4), "tsn", 50)
    tsm = charts.Series("TSM-R50", (8.0, 16.0), (32.7, 65.4), "tsm", 50)
    i3d = charts.Series("I3D-R50", (8.0, 16.0), (29.0, 58.9), "i3d", 50)
    lines = [tsn, tsm, i3d]
    assert [charts._legend_label(lines, i, "") for i in range(3)] == [
        "TSN-R50",
        "TSM-R50 (under TSN-R50)",
        "I3D-R50",
    ]
