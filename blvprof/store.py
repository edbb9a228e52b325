"""The results store: one SQLite row per measurement or training run, readable by pandas.

Rows of a study are keyed by (study, key), where the key identifies what was run; a rerun skips
keys already finished, so an interrupted sweep resumes without losing or duplicating a run. Each
row is written in its own transaction, so a crash never leaves half a row. Rows are made by
``blvprof.records.run_row`` alone. The file carries its schema version (SQLite's user_version);
a store of an earlier version is migrated once, when it is opened. This module does not import
torch: reports render from a store alone.
"""

import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from blvprof.errors import UserError
from blvprof.records import FINISHED, Kind, Request, Run

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    study TEXT NOT NULL,        -- a study's name ('profile' for ad-hoc profiles)
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
CREATE TABLE IF NOT EXISTS claims (
    study TEXT NOT NULL,
    key TEXT NOT NULL,
    holder TEXT NOT NULL,       -- the sweep running it: host:pid:nonce
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    heartbeat REAL NOT NULL,    -- unix time the holder last renewed its claims
    PRIMARY KEY (study, key)
);
"""
# 1: every row's settings are Request.to_row()'s fields plus "train" (the recipe or null)
SCHEMA_VERSION = 1
SQLITE_HEADER = b"SQLite format 3\x00"
OPEN_TIMEOUT_S = 30  # how long opening a store waits for other processes opening it
LEASE_S = 120.0  # a claim not renewed for this long is stale: its holder died or hung
_JSON_COLUMNS = ("config", "settings", "result", "env")
__all__ = ["Run", "Store"]  # Run is the row type (blvprof.records), re-exported for callers


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def digest(value: Any) -> str:
    """A short stable hash of any JSON-able value."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:16]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_store_path(path: Path) -> None:
    """Refuse a path that cannot be a results store, before anything runs or is written.

    A command that trains for an hour must not learn at the end that ``--db`` is a folder or
    someone's other file; this checks without creating anything.
    """
    if path.is_dir():
        raise UserError(f"results store {path} is a folder; give a file such as "
                        f"{path / 'blvprof.db'}")
    if path.exists():
        try:
            with path.open("rb") as handle:
                head = handle.read(len(SQLITE_HEADER))
        except OSError as error:
            raise UserError(f"cannot read results store {path}: {error.strerror}") from None
        if head and head != SQLITE_HEADER:
            raise UserError(f"{path} is not a results store (not a SQLite file); choose "
                            "another --db")
        if not os.access(path, os.W_OK):
            raise UserError(f"results store {path} is not writable")
        return
    check_writable_folder(path.parent, f"cannot create results store {path}")


def check_writable_folder(folder: Path, what: str) -> None:
    """``folder`` exists as a writable folder or could be made (its nearest ancestor is one)."""
    ancestor = folder
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(f"{what}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(f"{what}: {ancestor} is not writable")


@dataclass(frozen=True)
class Holder:
    """Who holds claims: one sweep (process) on one host."""

    id: str
    host: str
    pid: int

    @staticmethod
    def this_process() -> "Holder":
        host = socket.gethostname()
        return Holder(f"{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}", host, os.getpid())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class Store:
    """A SQLite file of runs. Use as a context manager or call ``close``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=OPEN_TIMEOUT_S)
            self._use_wal()
            self._open_schema()
        except (OSError, sqlite3.Error) as error:
            raise UserError(f"cannot open results store {self.path}: {error}") from error

    def _use_wal(self) -> None:
        """Switch the file to write-ahead logging, waiting for other openers: the switch needs
        the file to itself and, unlike other statements, fails at once ("database is locked")
        rather than wait its connection's timeout while another process is opening the same
        new store (seen when two sweeps start together)."""
        deadline = time.monotonic() + OPEN_TIMEOUT_S
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _open_schema(self) -> None:
        """Create the tables, or migrate a store of an earlier version (once: the first opener
        migrates while holding the write lock; the others find it done)."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            (version,) = self._db.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise UserError(f"results store {self.path} was written by a newer blvprof "
                                f"(schema {version}, this one reads {SCHEMA_VERSION})")
            existed = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone() is not None
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            if existed and version < 1:
                _migrate_to_1(self._db)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

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

    def finished_keys(self, study: str) -> set[str]:
        """Keys of the study's finished runs."""
        placeholders = ", ".join("?" for _ in FINISHED)
        query = f"SELECT key FROM runs WHERE study = ? AND status IN ({placeholders})"
        return {key for (key,) in self._db.execute(query, (study, *FINISHED))}

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

    def claim(self, study: str, key: str, holder: Holder) -> str:
        """Claim a run for ``holder``: 'claimed', 'finished' (no need) or 'held' (by a live sweep).

        Concurrent sweeps over one store split the work this way. A claim is stale, and taken
        over, when its holder's process is gone (same host) or it has not been renewed for
        :data:`LEASE_S` seconds (any host).
        """
        placeholders = ", ".join("?" for _ in FINISHED)
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")  # one claimer at a time decides
                if self._db.execute(
                        f"SELECT 1 FROM runs WHERE study = ? AND key = ? AND status IN "
                        f"({placeholders})", (study, key, *FINISHED)).fetchone():
                    return "finished"
                row = self._db.execute("SELECT holder, host, pid, heartbeat FROM claims WHERE "
                                       "study = ? AND key = ?", (study, key)).fetchone()
                if row is not None and row[0] != holder.id and not _stale(*row[1:]):
                    return "held"
                self._db.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?)",
                                 (study, key, holder.id, holder.host, holder.pid, time.time()))
                return "claimed"
        except sqlite3.Error as error:
            raise UserError(f"cannot write results store {self.path}: {error}") from error

    def release(self, holder: Holder, study: str | None = None, key: str | None = None) -> None:
        """Drop ``holder``'s claim on one run, or all its claims."""
        query, params = "DELETE FROM claims WHERE holder = ?", [holder.id]
        if study is not None and key is not None:
            query, params = query + " AND study = ? AND key = ?", [*params, study, key]
        with self._transaction() as db:
            db.execute(query, params)

    def claims(self) -> list[tuple[str, str, str]]:
        """(study, key, holder) of every claim, for tests and diagnostics."""
        return list(self._db.execute("SELECT study, key, holder FROM claims ORDER BY study, key"))


def _stale(host: str, pid: int, heartbeat: float) -> bool:
    if time.time() - heartbeat > LEASE_S:
        return True
    return host == socket.gethostname() and not _alive(pid)


class Heartbeat:
    """Renews a holder's claims every ``LEASE_S / 4`` seconds from a thread (its own connection),
    so a run that takes longer than the lease keeps its claim while its sweep lives."""

    def __init__(self, path: Path, holder: Holder, every: float = LEASE_S / 4):
        self._path, self._holder, self._every = path, holder, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="blvprof-heartbeat", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        while not self._stop.wait(self._every):
            try:
                db = sqlite3.connect(self._path, timeout=30)
                try:
                    with db:
                        db.execute("UPDATE claims SET heartbeat = ? WHERE holder = ?",
                                   (time.time(), self._holder.id))
                finally:
                    db.close()
            except sqlite3.Error:
                pass  # a busy store: the next beat renews; the lease is four beats long


def _migrate_to_1(db: sqlite3.Connection) -> None:
    """Schema 0 -> 1: each row's settings in the one request shape (``Request.to_row`` plus
    ``train``). ``blvprof train`` stored its TrainSpec as the settings: it becomes ``train``
    beside the request its counts were made with; a device stored as 'auto' (before devices were
    resolved) becomes the one the row's environment names. Keys are left as they are."""
    rows = db.execute("SELECT id, kind, model, settings, env FROM runs").fetchall()
    for row_id, kind, model, settings_text, env_text in rows:
        settings = json.loads(settings_text)
        env = json.loads(env_text) if env_text else {}
        db.execute("UPDATE runs SET settings = ? WHERE id = ?",
                   (canonical_json(_settings_1(kind, model, settings, env or {})), row_id))


def _settings_1(kind: str, model: str, settings: dict[str, Any], env: dict[str, Any]
                ) -> dict[str, Any]:
    if kind == Kind.TRAIN and "metrics" not in settings:  # `blvprof train`'s TrainSpec
        settings = {"metrics": ["flops", "params"], "counter": "flop_counter",
                    "precision": env.get("precision", "fp32"), "seed": settings.get("seed", 0),
                    "train": settings}
    if settings.get("device", "auto") == "auto" and env.get("device"):
        settings = {**settings, "device": env["device"]}
    try:
        request = Request.from_row(model, {}, {**Request(model).to_row(), **settings})
    except ValueError:  # a row made by hand with settings no request has: kept as it is
        return settings
    return {**request.to_row(), "train": settings.get("train")}


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
