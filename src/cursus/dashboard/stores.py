"""Read-only access to the stores the CLI writes: run records, plans, logs, the artifact store,
the model registry (MLflow's SQLite file or the folder registry), deployments and the catalog.

Nothing here writes. The store APIs the runner uses create tables and take write locks, so the
dashboard reads the same files itself: SQLite through `file:...?mode=ro` URIs (see `connect_ro`),
JSON files with `read_text`.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cursus.plan import expand_plan_dict
from cursus.readonly_sqlite import connect_ro
from cursus.redaction import redact

DIGEST = re.compile(r"[0-9a-f]{64}")
PLOT_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg")
LOG_TAIL_LINES = 40
MAX_LOG_BYTES = 64 << 10


# ---------------------------------------------------------------------- SQLite, read-only


def _rows(path: Path, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows as dicts; a missing database or table reads as no rows."""
    if not path.is_file():
        return []
    try:
        with connect_ro(path) as db:
            return [dict(r) for r in db.execute(sql, args).fetchall()]
    except sqlite3.OperationalError:
        return []


# ---------------------------------------------------------------------- workspace


@dataclass(frozen=True)
class Workspace:
    """One workspace folder and where its stores live."""

    root: Path

    @property
    def runs_db(self) -> Path:
        return self.root / "runs.db"

    @property
    def mlflow_db(self) -> Path:
        return self.root / "mlflow.db"

    @property
    def objects(self) -> Path:
        return self.root / "artifacts" / "objects"

    # ------------------------------------------------------------------ projects

    def projects(self) -> list[dict[str, Any]]:
        folder = self.root / "projects"
        found = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and isinstance(data.get("name"), str):
                found.append(data)
        return found

    def project(self, name: str | None) -> dict[str, Any] | None:
        if not name:
            return None
        return next((p for p in self.projects() if p["name"] == name), None)

    def project_run_ids(self, project: dict[str, Any]) -> set[str]:
        """Runs tracked into the project's MLflow experiment (their MLflow run is named by id)."""
        rows = _rows(
            self.mlflow_db,
            "SELECT r.name FROM runs r JOIN experiments e ON r.experiment_id = e.experiment_id "
            "WHERE e.name = ?",
            (str(project.get("experiment") or project["name"]),),
        )
        return {r["name"] for r in rows}

    # ------------------------------------------------------------------ runs

    def count_runs(self, pipeline: str | None = None, ids: set[str] | None = None) -> int:
        where, args = _run_filter(pipeline, ids)
        rows = _rows(self.runs_db, f"SELECT count(*) AS n FROM runs{where}", args)
        return int(rows[0]["n"]) if rows else 0

    def status_counts(self) -> dict[str, int]:
        rows = _rows(self.runs_db, "SELECT status, count(*) AS n FROM runs GROUP BY status")
        return {r["status"]: int(r["n"]) for r in rows}

    def pipelines(self) -> list[str]:
        rows = _rows(self.runs_db, "SELECT DISTINCT pipeline_name FROM runs ORDER BY 1")
        return [r["pipeline_name"] for r in rows]

    def list_runs(
        self,
        limit: int = 50,
        offset: int = 0,
        pipeline: str | None = None,
        ids: set[str] | None = None,
    ) -> list[dict[str, Any]]:
        """A page of runs, newest first, each with its step counts (cached, failed)."""
        where, args = _run_filter(pipeline, ids)
        runs = _rows(
            self.runs_db,
            f"SELECT * FROM runs{where} ORDER BY started DESC LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        if not runs:
            return []
        marks = ",".join("?" * len(runs))
        counts = {
            r["run_id"]: r
            for r in _rows(
                self.runs_db,
                "SELECT run_id, count(*) AS steps, sum(cache_hit) AS cached,"
                " sum(status = 'failed') AS failed FROM steps"
                f" WHERE run_id IN ({marks}) GROUP BY run_id",
                tuple(r["run_id"] for r in runs),
            )
        }
        for run in runs:
            _live_status(run)
            c = counts.get(run["run_id"], {})
            run["n_steps"] = int(c.get("steps") or 0)
            run["n_cached"] = int(c.get("cached") or 0)
            run["n_failed"] = int(c.get("failed") or 0)
            run["seconds"] = _seconds(run)
        return runs

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        rows = _rows(self.runs_db, "SELECT * FROM runs WHERE run_id = ?", (run_id,))
        if len(rows) != 1:
            return None
        run = _live_status(rows[0])
        run["seconds"] = _seconds(run)
        steps = _rows(
            self.runs_db, "SELECT * FROM steps WHERE run_id = ? ORDER BY rowid", (run_id,)
        )
        for step in steps:
            for key in ("outputs", "metrics", "hardware"):
                step[key] = _json(step.get(key), {})
            step["cache_hit"] = bool(step["cache_hit"])
            step["seconds"] = _seconds(step)
        run["steps"] = steps
        return run

    def plan(self, run: dict[str, Any]) -> dict[str, Any]:
        """The run's plan.json (only when it lies inside this workspace)."""
        path = self.inside(run.get("plan_path"))
        if path is None:
            path = self.root / "runs" / run["run_id"] / "plan.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return redact_plan(expand_plan_dict(data)) if isinstance(data, dict) else {}

    def log_tail(self, step: dict[str, Any], lines: int = LOG_TAIL_LINES) -> str:
        path = self.inside(step.get("log_path"))
        if path is None or not path.is_file():
            return ""
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - MAX_LOG_BYTES))
            text = fh.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def data_inputs(self, run_id: str) -> list[dict[str, Any]]:
        return _rows(
            self.runs_db, "SELECT * FROM data_inputs WHERE run_id = ? ORDER BY rowid", (run_id,)
        )

    # ------------------------------------------------------------------ artifacts

    def inside(self, value: str | None) -> Path | None:
        """`value` as a path, when it names something inside this workspace."""
        if not value:
            return None
        path = Path(value).resolve()
        return path if path.is_relative_to(self.root.resolve()) else None

    def artifact_file(self, digest: str, relative: str) -> Path | None:
        """A file of stored object `digest`; None for anything outside that object's folder."""
        if not DIGEST.fullmatch(digest):
            return None
        base = (self.objects / digest).resolve()
        if not base.is_dir():
            return None
        path = (base / relative).resolve()
        if not path.is_relative_to(base) or not path.is_file():
            return None
        return path

    def plots(self, run: dict[str, Any]) -> list[dict[str, str]]:
        """Every image the run's steps wrote, as (step, output, digest, relative path)."""
        found = []
        for step in run["steps"]:
            for output, digest in sorted(step["outputs"].items()):
                if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
                    continue
                base = self.objects / digest
                if not base.is_dir():
                    continue
                for path in sorted(base.rglob("*")):
                    if path.suffix.lower() in PLOT_SUFFIXES and path.is_file():
                        found.append(
                            {
                                "step": step["name"],
                                "output": output,
                                "digest": digest,
                                "file": path.relative_to(base).as_posix(),
                            }
                        )
        return found

    def drift_reports(self, limit: int = 200) -> list[dict[str, Any]]:
        """DriftCheck steps of recorded runs, with the summary their drift.json holds."""
        rows = _rows(
            self.runs_db,
            "SELECT s.run_id, s.name, s.status, s.outputs, s.metrics, r.pipeline_name, r.started"
            " FROM steps s JOIN runs r ON r.run_id = s.run_id WHERE s.step_type = 'DriftCheck'"
            " ORDER BY r.started DESC LIMIT ?",
            (limit,),
        )
        for row in rows:
            row["metrics"] = _json(row["metrics"], {})
            row["summary"], row["report"] = {}, None
            for digest in _json(row.pop("outputs"), {}).values():
                found = self.artifact_file(str(digest), "drift.json")
                if found is not None:
                    row["summary"] = _json(found.read_text(errors="replace"), {})
                if self.artifact_file(str(digest), "drift.html") is not None:
                    row["report"] = {"digest": digest, "file": "drift.html"}
        return rows

    # ------------------------------------------------------------------ registry

    def models(self) -> list[dict[str, Any]]:
        """Registered models, each with its versions (aliases, metrics, lineage), from the
        MLflow store when it exists, and from the folder registry."""
        return self._mlflow_models() + self._folder_models()

    def _mlflow_models(self) -> list[dict[str, Any]]:
        """The MLflow store's models, as MLflow lists them (deleted versions and prompts left
        out), read with sqlite3 whatever its schema: the dashboard never imports MLflow."""
        from cursus.mlops.registry import SqliteRegistryView

        if not self.mlflow_db.is_file():
            return []
        view = SqliteRegistryView(f"sqlite:///{self.mlflow_db}", self.mlflow_db)
        models = []
        try:
            for name in view.model_names():
                versions = [
                    {k: v for k, v in version.to_dict().items() if k != "name"}
                    for version in view.versions(name)
                ]
                if versions:
                    models.append({"name": name, "registry": "mlflow", "versions": versions})
        except sqlite3.Error:  # a store MLflow has not finished creating
            return []
        return models

    def _folder_models(self) -> list[dict[str, Any]]:
        root = self.root / "registry"
        found = []
        for model in sorted(root.iterdir()) if root.is_dir() else []:
            if not model.is_dir():
                continue
            aliases_by_version: dict[int, list[str]] = {}
            for alias, number in _json_file(model / "aliases.json", {}).items():
                aliases_by_version.setdefault(int(number), []).append(alias)
            versions = []
            for folder in sorted(
                (p for p in model.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
            ):
                record = _json_file(folder / "registration.json", None)
                if not isinstance(record, dict):
                    continue
                versions.append(
                    {
                        "version": int(folder.name),
                        "aliases": sorted(aliases_by_version.get(int(folder.name), [])),
                        "created": _iso((folder / "registration.json").stat().st_mtime),
                        "source": str(folder),
                        "description": "",
                        "metrics": record.get("metrics") or {},
                        "lineage": record.get("lineage") or {},
                    }
                )
            if versions:
                found.append({"name": model.name, "registry": "folder", "versions": versions})
        return found

    # ------------------------------------------------------------------ serving

    def deployments(self) -> list[dict[str, Any]]:
        """Recorded deployments with their health, as `cursus deployments list` shows them."""
        from cursus.mlops.serving import with_health

        folder = self.root / "deployments"
        found = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            record = _json_file(path, None)
            if not isinstance(record, dict) or not ("port" in record or "endpoint_name" in record):
                continue
            found.append(with_health(record, ping_timeout=0.5))
        return found


# ---------------------------------------------------------------------- catalog


def catalog() -> dict[str, Any]:
    """The catalog index (pipelines and shared DAGs); empty when it cannot be read."""
    try:
        from cursus.pipeline_catalog.index import load_index

        return load_index()
    except Exception:  # the catalog is optional for the dashboard
        return {"pipelines": [], "shared_dags": {}}


def catalog_dag(pipeline_id: str) -> tuple[list[str], list[tuple[str, str]]] | None:
    """(nodes, edges) of a catalog pipeline's shared DAG, or None."""
    try:
        from cursus.pipeline_catalog import load_shared_dag

        dag = load_shared_dag(pipeline_id)
    except Exception:
        return None
    return list(dag.nodes), [(str(a), str(b)) for a, b in dag.edges]


def templates(workspace: Path) -> list[dict[str, Any]]:
    """MODS templates registered in the workspace's template registry."""
    path = Path(os.environ.get("CURSUS_TEMPLATE_REGISTRY") or workspace / "templates.db")
    return _rows(path, "SELECT * FROM templates ORDER BY name, registered_at")


# ---------------------------------------------------------------------- helpers


def _run_filter(pipeline: str | None, ids: set[str] | None) -> tuple[str, tuple[Any, ...]]:
    clauses: list[str] = []
    args: list[Any] = []
    if pipeline:
        clauses.append("pipeline_name = ?")
        args.append(pipeline)
    if ids is not None:
        clauses.append(f"run_id IN ({','.join('?' * len(ids)) or 'NULL'})")
        args.extend(sorted(ids))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(args)


def _live_status(run: dict[str, Any]) -> dict[str, Any]:
    """A run still 'running' whose runner process is gone was killed (as RunRecords says)."""
    if run["status"] == "running" and run.get("host") == os.uname().nodename:
        pid = run.get("pid")
        try:
            if not pid:
                raise ProcessLookupError
            os.kill(int(pid), 0)
        except ProcessLookupError:
            run["status"] = "interrupted"
        except PermissionError:
            pass
    return run


def _seconds(row: dict[str, Any]) -> float | None:
    if row.get("started") and row.get("ended"):
        return float(row["ended"]) - float(row["started"])
    return None


def _json(text: Any, default: Any) -> Any:
    try:
        return json.loads(text) if text else default
    except (TypeError, ValueError):
        return default


def _json_file(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def _iso(seconds: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def redact_plan(data: dict[str, Any]) -> dict[str, Any]:
    """A plan's JSON as the dashboard shows it: no secret value (cursus.redaction)."""
    steps = data.get("steps")
    if not isinstance(steps, list):
        return data
    shown = []
    for step in steps:
        if isinstance(step, dict):
            secrets = [str(s) for s in step.get("secrets") or []]
            step = {**step, **{k: redact(step.get(k), secrets) for k in ("config", "env")}}
        shown.append(step)
    return {**data, "steps": shown}
