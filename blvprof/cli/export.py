"""``blvprof export``: the results store as CSV, JSON or Parquet."""

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from blvprof.cli.options import DEFAULT_DB, Db
from blvprof.errors import UserError
from blvprof.store import Store, flatten

FORMATS = ("csv", "json", "parquet")


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def export(
    fmt: Annotated[str, typer.Option("--format", help="csv, json or parquet.")] = "csv",
    out: Annotated[Path | None, typer.Option("--out", help="File (default: stdout).")] = None,
    study: Annotated[str | None, typer.Option("--study", help="Only this study.")] = None,
    db: Db = DEFAULT_DB,
) -> None:
    """Export every run in the store as one flat table (nested fields become dotted columns)."""
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if not db.exists():
        raise UserError(f"results store {db} does not exist")
    with Store(db) as store:
        runs = store.runs(study=study)
    rows = flatten(runs)
    if fmt == "json":
        _emit(json.dumps(_records(rows), indent=1, default=str) + "\n", out)
        return
    frame = pd.DataFrame(rows)
    if fmt == "csv":
        _emit(frame.to_csv(index=False), out)
        return
    if out is None:
        raise UserError("--format parquet needs --out FILE")
    try:
        frame.to_parquet(out, index=False)
    except ImportError:
        raise UserError('parquet export needs pyarrow: pip install "blvprof[parquet]"') from None


def _records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The flat table as JSON records: every row has every column (null where absent)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return [{column: row.get(column) for column in columns} for row in rows]


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
