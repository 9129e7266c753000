"""connect_ro beside the other SQLite connections of its own process."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from cursus.readonly_sqlite import connect_ro

INSERT = "import sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None);" \
    " db.execute('INSERT INTO t VALUES (1)'); db.close()"  # fmt: skip


def test_reading_leaves_the_locks_of_this_process_s_other_connections(tmp_path: Path) -> None:
    """MLflow's client and the registry's reader share a process (serving, the tests). Were the
    reader to open the file itself, closing it would drop the client's locks: a writer elsewhere
    would then delete the WAL the client reads, and the client would miss commits for good."""
    path = tmp_path / "mlflow.db"
    mine = sqlite3.connect(path, isolation_level=None)
    mine.execute("PRAGMA journal_mode=WAL")
    mine.execute("CREATE TABLE t (x)")
    with connect_ro(path) as db:
        assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    for _ in range(2):  # each closes: the first that took itself for the last would checkpoint
        subprocess.run([sys.executable, "-c", INSERT, str(path)], check=True)
    assert Path(f"{path}-wal").exists(), "a writer elsewhere took itself for the last connection"
    assert mine.execute("SELECT count(*) FROM t").fetchone()[0] == 2
    mine.close()
