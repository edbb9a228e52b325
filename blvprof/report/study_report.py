"""A markdown report per study of the results store, with its charts, and an index of them."""

import re
from pathlib import Path
from typing import Any

from blvprof.report.claims import render_paper_claims
from blvprof.report.markdown import (
    environment_block,
    failed_runs,
    failed_runs_block,
    regenerate_line,
    table,
)
from blvprof.report.study_profile import profile_section
from blvprof.report.study_train import train_section

PAPER_CLAIMS_STUDY = "paper_claims"
QUICK_CLAIMS_STUDY = "paper_claims-quick"  # `blvprof reproduce --quick` stores its runs here


def file_stem(study: str, training: bool = False) -> str:
    """A study name made safe as a file name ('compare-1a2b', 'paper_claims'); a study that
    trains is an ablation: 'temporal_modules' -> 'ablation-temporal-modules'."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", study).strip("-.") or "study"
    return "ablation-" + stem.replace("_", "-") if training else stem


def _overview(runs: list[dict[str, Any]]) -> str:
    kinds = {k: sum(r["kind"] == k for r in runs) for k in ("profile", "train")}
    failed = len(failed_runs(runs))
    started = sorted(r["started_at"] for r in runs if r.get("started_at"))
    when = ""
    if started:
        span = started[0] if started[0] == started[-1] else f"{started[0]} – {started[-1]}"
        when = f", started {span}"
    return (
        f"{len(runs)} runs: {kinds['profile']} profiles, {kinds['train']} training runs, "
        f"{failed} failed{when}."
    )


def render_study(runs: list[dict[str, Any]], out_dir: Path, study: str, command: str) -> Path:
    """Write ``<out_dir>/<stem>.md`` and its charts (``<stem>-*.png``) from the study's rows; the
    stem is the study's name, or ``ablation-<name>`` for a study that trains (see file_stem)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = file_stem(study, training=any(r["kind"] == "train" for r in runs))
    parts = [f"# Study `{study}`", _overview(runs)]
    parts += [
        p for p in (profile_section(runs, out_dir, stem), train_section(runs, out_dir, stem)) if p
    ]
    parts += [
        "## Failed runs",
        failed_runs_block(runs),
        "## Environment",
        environment_block(runs),
        regenerate_line(command),
    ]
    path = out_dir / f"{stem}.md"
    path.write_text("\n\n".join(parts) + "\n")
    return path


def render_store(rows: list[dict[str, Any]], out_dir: Path, command: str) -> list[Path]:
    """One report per study in ``rows``, the paper-claims report when the paper_claims study is
    there, and ``index.md`` linking them all; returns the markdown files written, index last."""
    studies = sorted({r["study"] for r in rows})
    by_study = {s: [r for r in rows if r["study"] == s] for s in studies}
    written, entries = [], []
    for study, runs in by_study.items():
        path = render_study(runs, out_dir, study, command)
        written.append(path)
        entries.append([f"[{study}]({path.name})", _overview(runs)])
    claims = next((s for s in (PAPER_CLAIMS_STUDY, QUICK_CLAIMS_STUDY) if s in by_study), None)
    if claims is not None:  # the full reproduction when the store has it, else the quick one
        runs = by_study[claims]
        path = render_paper_claims(runs, out_dir, command, claims == QUICK_CLAIMS_STUDY)
        written.insert(0, path)
        entries.insert(
            0,
            [
                f"[paper claims]({path.name})",
                "The paper's numbers and claims, checked against the paper_claims study.",
            ],
        )
    index = out_dir / "index.md"
    index.write_text(
        "\n\n".join(
            [
                "# Reports",
                table(["report", "contents"], entries, "ll")
                if entries
                else "The store has no runs.",
                regenerate_line(command),
            ]
        )
        + "\n"
    )
    return [*written, index]
