"""``blvprof export``: the results store as CSV, JSON or Parquet."""

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from blvprof.cli.options import DEFAULT_DB, Db
from blvprof.errors import UserError
from blvprof.store import Store, check_writable_folder, flatten

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
    if not db.is_file():
        raise UserError(f"results store {db} does not exist")
    if out is not None:
        _check_out(out)
    with Store(db) as store:
        studies = store.studies()
        if study is not None and study not in studies:  # as `report` refuses it
            known = ", ".join(studies) or "none"
            raise UserError(f"study {study!r} is not in {db} (studies: {known})")
        runs = store.runs(study=study)
    rows = flatten(runs)
    if fmt == "json":
        _emit(json.dumps(_records(rows), indent=1, default=str) + "\n", out)
        return
    import pandas as pd  # imported here: only export's tables need it (0.3-0.5 s at start-up)

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
    except OSError as error:
        raise UserError(f"cannot write the export to {out}: {error.strerror or error}") from None


def _check_out(out: Path) -> None:
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name")
    check_writable_folder(out.parent, f"cannot write the export to {out}")


def _records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The flat table as JSON records: every row has every column (null where absent)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return [{column: row.get(column) for column in columns} for row in rows]


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        try:
            out.write_text(text)
        except OSError as error:
            raise UserError(f"cannot write the export to {out}: {error.strerror}") from None
