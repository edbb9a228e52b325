"""``blvprof report`` through a Typer app holding just that command, on a store built from
fixture rows."""

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from blvprof.cli import report
from blvprof.errors import UserError
from blvprof.store import Run, Store

RUN_FIELDS = set(Run.__dataclass_fields__)


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)  # a callback keeps 'report' a named sub-command
    report.register(app)
    return app


@pytest.fixture
def db(study_rows: list[dict[str, Any]], tmp_path: Path) -> Path:
    path = tmp_path / "runs.db"
    with Store(path) as store:
        for row in study_rows:
            if row["study"] == "tsn_vs_blvnet":
                store.add(Run(**{k: v for k, v in row.items() if k in RUN_FIELDS}))
    return path


def test_report_writes_and_prints_paths(app: typer.Typer, db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["report", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    printed = [Path(line) for line in result.output.splitlines()]
    assert printed == [out / "tsn_vs_blvnet.md", out / "index.md"]
    assert all(p.is_file() for p in printed)
    assert f"`blvprof report --db {db} --out {out}`" in printed[0].read_text()


def test_unknown_study_and_missing_store_are_user_errors(
    app: typer.Typer, db: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    unknown = runner.invoke(app, ["report", "--db", str(db), "--study", "nope"])
    assert isinstance(unknown.exception, UserError)
    assert "study 'nope' is not in" in str(unknown.exception)
    assert "tsn_vs_blvnet" in str(unknown.exception)
    missing = runner.invoke(app, ["report", "--db", str(tmp_path / "none.db")])
    assert isinstance(missing.exception, UserError)
    assert "does not exist" in str(missing.exception)
    assert not (tmp_path / "none.db").exists()
