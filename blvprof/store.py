"""The results store: one SQLite row per measurement or training run, readable by pandas.

Rows of a study are keyed by (study, key), where the key identifies what was run; a rerun skips
keys already finished, so an interrupted sweep resumes without losing or duplicating a run. Each
row is written in its own transaction, so a crash never leaves half a row. This module does not
import torch: reports render from a store alone.
"""

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from blvprof.errors import UserError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    study TEXT NOT NULL,        -- a study's name; ad-hoc profiles use 'profile'
    key TEXT NOT NULL,          -- what was run, unique within the study
    kind TEXT NOT NULL,         -- 'profile' or 'train'
    model TEXT NOT NULL,
    family TEXT,
    config_hash TEXT NOT NULL,
    config TEXT NOT NULL,       -- JSON: the model's resolved config
    settings TEXT NOT NULL,     -- JSON: how it was measured or trained
    result TEXT,                -- JSON: the record (absent when the run failed)
    env TEXT,                   -- JSON: machine, device and flags
    status TEXT NOT NULL,       -- 'ok', 'oom' or 'error'
    error TEXT,
    started_at TEXT,
    finished_at TEXT,
    duration_s REAL,
    UNIQUE (study, key)
);
"""
FINISHED = ("ok", "oom")  # a rerun skips these; an 'error' row is retried and replaced
_JSON_COLUMNS = ("config", "settings", "result", "env")


@dataclass(frozen=True)
class Run:
    study: str
    key: str
    kind: str
    model: str
    family: str | None
    config: dict[str, Any]
    settings: dict[str, Any]
    result: dict[str, Any] | None
    env: dict[str, Any] | None
    status: str
    error: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def digest(value: Any) -> str:
    """A short stable hash of any JSON-able value."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:16]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """A SQLite file of runs. Use as a context manager or call ``close``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise UserError(f"cannot open results store {self.path}: {error}") from error

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            with self._db:
                yield self._db
        except sqlite3.Error as error:
            raise UserError(f"cannot write results store {self.path}: {error}") from error

    def add(self, run: Run) -> None:
        """Insert a run, replacing an earlier row with the same (study, key)."""
        row = asdict(run)
        row["config_hash"] = digest(run.config)
        for column in _JSON_COLUMNS:
            row[column] = canonical_json(row[column]) if row[column] is not None else None
        columns = ", ".join(row)
        marks = ", ".join(f":{c}" for c in row)
        with self._transaction() as db:
            db.execute(f"INSERT OR REPLACE INTO runs ({columns}) VALUES ({marks})", row)

    def finished_keys(self, study: str, device: str | None = None) -> set[str]:
        """Keys of the study's finished runs; with ``device``, only those that ran on it."""
        placeholders = ", ".join("?" for _ in FINISHED)
        query = f"SELECT key FROM runs WHERE study = ? AND status IN ({placeholders})"
        params: tuple[str, ...] = (study, *FINISHED)
        if device is not None:
            query, params = query + " AND json_extract(env, '$.device') = ?", (*params, device)
        return {key for (key,) in self._db.execute(query, params)}

    def runs(self, study: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        """Rows as dicts with JSON columns decoded, oldest first."""
        query, params = "SELECT * FROM runs WHERE 1=1", []
        if study is not None:
            query, params = query + " AND study = ?", [*params, study]
        if kind is not None:
            query, params = query + " AND kind = ?", [*params, kind]
        cursor = self._db.execute(query + " ORDER BY id", params)
        names = [d[0] for d in cursor.description]
        return [_decode(dict(zip(names, values, strict=True))) for values in cursor]

    def studies(self) -> list[str]:
        return [s for (s,) in self._db.execute("SELECT DISTINCT study FROM runs ORDER BY study")]


def _decode(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: json.loads(v) if k in _JSON_COLUMNS and v is not None else v for k, v in row.items()}


def flatten(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat dict per run: nested JSON becomes dotted columns (``result.memory.max_batch``)."""
    flat = []
    for run in runs:
        row: dict[str, Any] = {}
        _flatten_into(row, "", run)
        flat.append(row)
    return flat


def _flatten_into(out: dict[str, Any], prefix: str, value: Any) -> None:
    if isinstance(value, Mapping) and value:
        for key, inner in value.items():
            _flatten_into(out, f"{prefix}{key}.", inner)
    else:
        out[prefix.rstrip(".")] = canonical_json(value) if isinstance(value, list | dict) else value
