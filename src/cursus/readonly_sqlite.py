"""Reading an SQLite file that other processes write, without ever writing to it or beside it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _open_elsewhere(path: Path) -> bool:
    """Whether a connection may have `path` open: a WAL connection keeps its -wal and -shm files
    (the last one to close removes them) and a rollback-mode writer keeps its -journal."""
    wal = all(Path(f"{path}{s}").exists() for s in ("-wal", "-shm"))
    return wal or Path(f"{path}-journal").exists()


@contextmanager
def connect_ro(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection that never creates a file beside the database.

    While a connection has the database open we share its files (`mode=ro`) and see its latest
    commits. Otherwise the database is whole in its one file and is read as `immutable`: a WAL
    database opened `mode=ro` would create its -wal and -shm files.

    Only SQLite opens the file. Closing any descriptor of a file drops every POSIX lock this
    process holds on it, those of its other SQLite connections (MLflow's, in the same process)
    included: the next writer elsewhere then takes itself for the last one, deletes the WAL
    those connections still read, and they stop seeing new commits (sqlite.org/howtocorrupt).
    """
    query = "mode=ro" if _open_elsewhere(path) else "mode=ro&immutable=1"
    db = sqlite3.connect(f"{path.resolve().as_uri()}?{query}", uri=True, timeout=10)
    db.row_factory = sqlite3.Row
    try:
        yield db
    finally:
        db.close()
