"""`blvprof compare` is a study: a second identical compare adds no row and measures nothing."""

import json

from blvprof.store import Store
from tests.cli.run import run

GRID = ["compare", "tsn", "blvnet_tam", "--frames", "8", "--depth", "26", "--size", "64",
        "--set", "base_width=8", "--set", "beta=2", "--metrics", "flops,params", "--json"]


def test_a_repeated_compare_reuses_every_run(capsys, monkeypatch, tmp_path) -> None:
    db = tmp_path / "r.db"
    first = run([*GRID, "--db", str(db)], capsys, monkeypatch)
    assert first.code == 0, first.err
    with Store(db) as store:
        before = store.runs()
    again = run([*GRID, "--db", str(db)], capsys, monkeypatch)
    assert again.code == 0, again.err
    with Store(db) as store:
        after, studies = store.runs(), store.studies()
    assert "2 ran, 0 reused" in first.err and "0 ran, 2 reused" in again.err
    # the same rows, neither added nor rewritten: one study, so `blvprof report` renders one
    assert [(r["id"], r["finished_at"]) for r in after] == [
        (r["id"], r["finished_at"]) for r in before]
    assert len(studies) == 1 and studies[0].startswith("compare-")
    assert json.loads(again.out) == json.loads(first.out)  # the same table, ratios and records
    rows = json.loads(again.out)["rows"]
    assert [r["model"] for r in rows] == ["tsn", "blvnet_tam"] and rows[0]["gmacs_ratio"] == 1.0


def test_other_settings_are_another_study(capsys, monkeypatch, tmp_path) -> None:
    db = tmp_path / "r.db"
    for precision in ("fp32", "bf16"):
        result = run(["compare", "tsn", "--frames", "2", "--depth", "26", "--size", "32",
                      "--set", "base_width=8", "--metrics", "params", "--precision", precision,
                      "--db", str(db)], capsys, monkeypatch)
        assert result.code == 0 and "1 ran, 0 reused" in result.err, result.err
    with Store(db) as store:
        assert len(store.studies()) == 2 and len(store.runs()) == 2
