"""``blvprof report``: markdown reports and charts from the results store."""

import shlex
from pathlib import Path
from typing import Annotated

import typer

from blvprof.cli.options import DEFAULT_DB, Db
from blvprof.errors import UserError
from blvprof.store import Store, check_writable_folder

DEFAULT_OUT = Path("runs") / "reports"  # ignored by git; the committed ones: --out reports


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    db: Db = DEFAULT_DB,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the reports (the committed ones: --out "
                           "reports).")
    ] = DEFAULT_OUT,
    study: Annotated[str | None, typer.Option("--study", help="Only this study.")] = None,
) -> None:
    """Render one markdown report per study (plus the paper-claims report) and an index."""
    # imported here: the report modules bring matplotlib and scipy (about 2 s), which no other
    # command needs at start-up
    from blvprof.report.study_report import render_store

    if not db.is_file():
        raise UserError(f"results store {db} does not exist")
    with Store(db) as store:
        studies = store.studies()
        if study is not None and study not in studies:
            known = ", ".join(studies) or "none"
            raise UserError(f"study {study!r} is not in {db} (studies: {known})")
        rows = store.runs(study=study)
    if not rows:
        raise UserError(f"results store {db} has no runs")
    check_writable_folder(out, f"cannot write the reports to {out}")
    command = ["blvprof", "report", "--db", str(db), "--out", str(out)]
    if study is not None:
        command += ["--study", study]
    try:
        paths = render_store(rows, out, shlex.join(command))
    except OSError as error:  # the folder went away or filled up: say what was being written
        target = error.filename or out
        raise UserError(f"cannot write the reports to {out}: {target}: "
                        f"{error.strerror or error}") from None
    for path in paths:
        print(path)
