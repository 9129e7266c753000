"""Reading an SQLite file that other processes write, without ever writing to it or beside it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _wal_mode(path: Path) -> bool:
    """Bytes 18-19 of an SQLite header are 2 when the database is in WAL mode."""
    try:
        with path.open("rb") as fh:
            header = fh.read(20)
    except OSError:
        return False
    return len(header) == 20 and header[18] == 2 and header[19] == 2


@contextmanager
def connect_ro(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection that never creates a file beside the database.

    A WAL database opened `mode=ro` creates its -wal and -shm files when they are missing; when a
    writer has them open we share them (and see its latest commits), otherwise the database is
    fully checkpointed and is read as `immutable`, which needs neither file.
    """
    wal = _wal_mode(path)
    sidecars = all(Path(f"{path}{s}").exists() for s in ("-wal", "-shm"))
    query = "mode=ro&immutable=1" if wal and not sidecars else "mode=ro"
    db = sqlite3.connect(f"{path.resolve().as_uri()}?{query}", uri=True, timeout=10)
    db.row_factory = sqlite3.Row
    try:
        yield db
    finally:
        db.close()
