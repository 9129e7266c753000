"""The template registry: every MODS-decorated template, by name and version, in SQLite.

Writing happens only through `TemplateRegistry.register` (called by Cursus' own MODSTemplate
decorator); the catalog and the CLI read through `TemplateRegistryReader`, which never writes and
answers plainly when the registry does not exist yet.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cursus.errors import CursusError

SCHEMA = """
CREATE TABLE IF NOT EXISTS templates (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    author TEXT NOT NULL,
    description TEXT NOT NULL,
    module TEXT NOT NULL,
    dag_digest TEXT NOT NULL,
    config_digest TEXT NOT NULL,
    framework TEXT NOT NULL DEFAULT '',
    source_package TEXT NOT NULL DEFAULT '',
    source_commit TEXT NOT NULL DEFAULT '',
    registered_at REAL NOT NULL,
    PRIMARY KEY (name, version)
);
"""


class TemplateRegistryError(CursusError):
    """A template cannot be registered as asked."""


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    version: str
    author: str
    description: str
    module: str
    dag_digest: str
    config_digest: str
    framework: str = ""
    source_package: str = ""
    source_commit: str = ""
    registered_at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_registry_path() -> Path:
    env = os.environ.get("CURSUS_TEMPLATE_REGISTRY")
    if env:
        return Path(env)
    from cursus.workspace import resolve_workspace

    return resolve_workspace() / "templates.db"


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA busy_timeout=30000")
    return db


class TemplateRegistry:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_registry_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _connect(self.path) as db:
            db.executescript(SCHEMA)

    def register(self, info: TemplateInfo) -> TemplateInfo:
        """Record a template; the same name and version with another DAG is refused.

        A template decorated before its DAG was known has an empty dag_digest: it matches any
        DAG, and the first registration that knows the DAG fills it in."""
        db = _connect(self.path)
        try:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT dag_digest FROM templates WHERE name=? AND version=?",
                (info.name, info.version),
            ).fetchone()
            known = row["dag_digest"] if row is not None else ""
            if not info.dag_digest and known:
                db.execute("ROLLBACK")
                return info  # the DAG-less class of a template already registered with its DAG
            if known and known != info.dag_digest:
                db.execute("ROLLBACK")
                raise TemplateRegistryError(
                    f"template '{info.name}' version {info.version} is already registered with a different "
                    f"DAG; bump the version (pipeline_version in the config) to register this one"
                )
            stamped = TemplateInfo(
                **{**info.as_dict(), "registered_at": info.registered_at or time.time()}
            )
            db.execute(
                "INSERT OR REPLACE INTO templates VALUES (:name, :version, :author, :description, :module, "
                ":dag_digest, :config_digest, :framework, :source_package, :source_commit, :registered_at)",
                stamped.as_dict(),
            )
            db.execute("COMMIT")
            return stamped
        finally:
            db.close()


class TemplateRegistryReader:
    """Read-only queries; a missing registry reads as empty."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_registry_path()

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[TemplateInfo]:
        if not self.exists:
            return []
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        db.row_factory = sqlite3.Row
        try:
            return [TemplateInfo(**dict(r)) for r in db.execute(sql, args).fetchall()]
        except sqlite3.OperationalError:  # a database without our table is an empty registry
            return []
        finally:
            db.close()

    def list_templates(self) -> list[TemplateInfo]:
        return self._rows("SELECT * FROM templates ORDER BY name, registered_at")

    def get(self, name: str, version: str | None = None) -> TemplateInfo | None:
        if version is not None:
            rows = self._rows("SELECT * FROM templates WHERE name=? AND version=?", (name, version))
        else:
            rows = self._rows(
                "SELECT * FROM templates WHERE name=? ORDER BY registered_at DESC", (name,)
            )
        return rows[0] if rows else None

    def mtime(self) -> float:
        """Changes whenever the registry is written: callers cache on it."""
        paths = [self.path, self.path.with_name(self.path.name + "-wal")]
        return max((p.stat().st_mtime_ns for p in paths if p.exists()), default=0) / 1e9
