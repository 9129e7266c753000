"""Run records: every run and step in an embedded SQLite database.

Each call opens its own short connection, so several runner processes (and their threads) can share
one database; WAL mode and a busy timeout let them write without corrupting anything.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cursus.backends.local.processes import pid_alive
from cursus.errors import CursusError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    pipeline_name TEXT NOT NULL,
    pipeline_version TEXT NOT NULL,
    plan_digest TEXT NOT NULL,
    status TEXT NOT NULL,
    started REAL NOT NULL,
    ended REAL,
    pid INTEGER,
    host TEXT,
    plan_path TEXT,
    error TEXT
);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    name TEXT NOT NULL,
    step_type TEXT NOT NULL,
    status TEXT NOT NULL,
    cache_key TEXT,
    cache_hit INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    started REAL,
    ended REAL,
    outputs TEXT NOT NULL DEFAULT '{}',
    metrics TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    log_path TEXT,
    hardware TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, name)
);
CREATE TABLE IF NOT EXISTS cache (
    cache_key TEXT PRIMARY KEY,
    step_type TEXT NOT NULL,
    outputs TEXT NOT NULL,
    metrics TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_started ON runs(started);
"""

FINAL = ("succeeded", "failed", "interrupted")


class RecordsDamaged(CursusError):
    """runs.db is not a database, or one whose pages are damaged."""


def _damaged(path: Path, reason: str) -> RecordsDamaged:
    return RecordsDamaged(
        f"{path} is not a sound run database ({reason}); move it aside (mv {path.name} "
        f"{path.name}.damaged) and run again: artifacts stay in the store, the run history "
        "starts anew and the cache fills again"
    )


class RunRecords:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=60)
        try:
            db.execute("PRAGMA busy_timeout=60000")
            db.execute("PRAGMA journal_mode=WAL")
            problems = [row[0] for row in db.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise _damaged(self.path, "; ".join(map(str, problems[:3])))
            db.executescript(SCHEMA)
            _add_missing_columns(db)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            raise _damaged(self.path, str(exc)) from None
        finally:
            db.close()

    def close(self) -> None:
        """Close this thread's connection (a later call opens a new one). The last connection to
        close removes the database's -wal and -shm files."""
        db = getattr(self._local, "db", None)
        self._local.db = None
        if db is not None:
            db.close()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One transaction, on this thread's connection (opened once per thread: opening one
        costs about as much as the small transactions the runner writes)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout=60000")
            # in WAL mode NORMAL syncs at checkpoints, not at each commit: a killed process
            # loses nothing, only a power loss may take the last commits (and never corrupts
            # the file); a run writes a dozen small transactions, each an fsync under FULL
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._local.db = None  # a connection that failed is not reused
            db.close()
            raise

    # ------------------------------------------------------------------ runs

    def start_run(
        self,
        run_id: str,
        pipeline: dict[str, Any],
        plan_digest: str,
        plan_path: str,
        steps: list[tuple[str, str]],
    ) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO runs (run_id, pipeline_name, pipeline_version, plan_digest, status, started, pid, host, plan_path)"
                " VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                (
                    run_id,
                    pipeline["pipeline_name"],
                    pipeline["pipeline_version"],
                    plan_digest,
                    time.time(),
                    os.getpid(),
                    os.uname().nodename,
                    plan_path,
                ),
            )
            db.executemany(
                "INSERT INTO steps (run_id, name, step_type, status) VALUES (?, ?, ?, 'pending')",
                [(run_id, name, step_type) for name, step_type in steps],
            )

    def ensure_run(
        self,
        run_id: str,
        pipeline: dict[str, Any],
        plan_digest: str,
        plan_path: str,
        steps: list[tuple[str, str]],
    ) -> str:
        """Create the run if it is new (a run driven step by step, e.g. by Airflow, has no single
        runner process: its pid stays unset). Returns the plan digest the run was started with."""
        with self._connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO runs (run_id, pipeline_name, pipeline_version, plan_digest, status,"
                " started, pid, host, plan_path) VALUES (?, ?, ?, ?, 'running', ?, NULL, ?, ?)",
                (
                    run_id,
                    pipeline["pipeline_name"],
                    pipeline["pipeline_version"],
                    plan_digest,
                    time.time(),
                    os.uname().nodename,
                    plan_path,
                ),
            )
            db.executemany(
                "INSERT OR IGNORE INTO steps (run_id, name, step_type, status) VALUES (?, ?, ?, 'pending')",
                [(run_id, name, step_type) for name, step_type in steps],
            )
            row = db.execute("SELECT plan_digest FROM runs WHERE run_id=?", (run_id,)).fetchone()
        return str(row["plan_digest"])

    def finish_run_if_done(self, run_id: str) -> str | None:
        """Close a step-by-step run once no step is pending or running; returns its final status."""
        with self._connect() as db:
            statuses = [
                r["status"]
                for r in db.execute("SELECT status FROM steps WHERE run_id=?", (run_id,))
            ]
            if not statuses or any(s in ("pending", "running") for s in statuses):
                return None
            status = "failed" if "failed" in statuses else "succeeded"
            db.execute(
                "UPDATE runs SET status=?, ended=? WHERE run_id=?", (status, time.time(), run_id)
            )
        return status

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE runs SET status=?, ended=?, error=? WHERE run_id=?",
                (status, time.time(), error, run_id),
            )

    def update_step(self, run_id: str, name: str, **fields: Any) -> None:
        for key in ("outputs", "metrics", "hardware"):
            if key in fields:
                fields[key] = json.dumps(fields[key], sort_keys=True)
        if "cache_hit" in fields:
            fields["cache_hit"] = int(bool(fields["cache_hit"]))
        cols = ", ".join(f"{k}=?" for k in fields)
        with self._connect() as db:
            db.execute(
                f"UPDATE steps SET {cols} WHERE run_id=? AND name=?",
                (*fields.values(), run_id, name),
            )

    def list_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM runs ORDER BY started DESC LIMIT ?", (limit,)
            ).fetchall()
        return [self._live_status(dict(r)) for r in rows]

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self._connect() as db:
            # the exact id, else a unique prefix of one (as `cursus runs show 2026` would type it)
            row = db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchall()
            if not row:
                row = db.execute(
                    "SELECT * FROM runs WHERE substr(run_id, 1, ?) = ?", (len(run_id), run_id)
                ).fetchall()
            if len(row) != 1:
                return None
            run = self._live_status(dict(row[0]))
            steps = db.execute(
                "SELECT * FROM steps WHERE run_id=? ORDER BY rowid", (run["run_id"],)
            ).fetchall()
        interrupted = run["status"] == "interrupted"
        run["steps"] = [
            {
                **dict(s),
                # a step that was running when its runner was killed did not finish
                **({"status": "interrupted"} if interrupted and s["status"] == "running" else {}),
                "outputs": json.loads(s["outputs"]),
                "metrics": json.loads(s["metrics"]),
                "hardware": json.loads(s["hardware"]),
                "cache_hit": bool(s["cache_hit"]),
            }
            for s in steps
        ]
        return run

    @staticmethod
    def _live_status(run: dict[str, Any]) -> dict[str, Any]:
        """A run still 'running' whose runner process is gone was killed: say so."""
        if (
            run["status"] == "running"
            and run["pid"]  # step-by-step runs have no runner process to watch
            and run["host"] == os.uname().nodename
            and not pid_alive(run["pid"])
        ):
            run["status"] = "interrupted"
        return run

    # ------------------------------------------------------------------ cache

    def cache_get(self, key: str) -> dict[str, Any] | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT outputs, metrics FROM cache WHERE cache_key=?", (key,)
            ).fetchone()
        if row is None:
            return None
        try:
            hit = {"outputs": json.loads(row["outputs"]), "metrics": json.loads(row["metrics"])}
        except (TypeError, ValueError):
            return None  # a damaged row is a miss; the step runs and its row is written again
        outputs, metrics = hit["outputs"], hit["metrics"]
        if not (
            isinstance(outputs, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in outputs.items())
            and isinstance(metrics, dict)
        ):
            return None
        return hit

    def cache_put(
        self, key: str, step_type: str, outputs: dict[str, str], metrics: dict[str, Any]
    ) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO cache (cache_key, step_type, outputs, metrics, created) VALUES (?, ?, ?, ?, ?)",
                (
                    key,
                    step_type,
                    json.dumps(outputs, sort_keys=True),
                    json.dumps(metrics, sort_keys=True),
                    time.time(),
                ),
            )

    def cache_drop(self, key: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM cache WHERE cache_key=?", (key,))


# columns added after the first release: (table, column, definition); older databases get them
ADDED_COLUMNS = [("steps", "hardware", "TEXT NOT NULL DEFAULT '{}'")]


def _add_missing_columns(db: sqlite3.Connection) -> None:
    for table, column, definition in ADDED_COLUMNS:
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            try:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
            except sqlite3.OperationalError as exc:  # another process added it just now
                if "duplicate column" not in str(exc):
                    raise
