"""Data versioning with DVC, and the lineage of the data each run used.

`dvc_add` / `dvc_push` / `dvc_pull` / `dvc_status` drive DVC's Python API on the DVC repository
at or above the current folder (created at first `add`: with Git when the folder is in a Git work
tree, without otherwise). Pushes go to the project's local remote folder unless the repository
names a default remote of its own. DVC's site cache lives in the workspace, not in /var/tmp.

`DataLineage` is a run hook: it records the content digest of every external input of a run
(DataLoading sources, inputs bound to a URI) in the run database, and warns when the data behind
the same pipeline, node and source differs from what the previous run used.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cursus.backends.local.hooks import RunHooks
from cursus.mlops.project import MLOpsError, Project
from cursus.redaction import redact_text

if TYPE_CHECKING:
    from dvc.repo import Repo

    from cursus.backends.local.runner import RunResult, StepResult
    from cursus.plan import Plan, PlanStep


SITE_CACHE = "dvc-site-cache"


# ---------------------------------------------------------------- the DVC repository


def find_repo_root(start: str | Path | None = None) -> Path | None:
    """The DVC repository at or above `start` (the current folder by default), if any."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".dvc").is_dir():
            return folder
    return None


def _git_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


@contextmanager
def _dvc_env(project: Project) -> Iterator[None]:
    """No analytics, and DVC's site cache (its state and index) inside the workspace."""
    saved = {k: os.environ.get(k) for k in ("DVC_NO_ANALYTICS", "DVC_SITE_CACHE_DIR")}
    os.environ["DVC_NO_ANALYTICS"] = "1"
    os.environ["DVC_SITE_CACHE_DIR"] = str(project.workspace / SITE_CACHE)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def init_repo(project: Project, root: str | Path | None = None) -> Path:
    """Create a DVC repository in `root` (the current folder): tracked by Git when `root` lies in
    a Git work tree, `--no-scm` otherwise. Returns its root."""
    from dvc.repo import Repo

    root = Path(root or Path.cwd()).resolve()
    git = _git_root(root)
    with _dvc_env(project):
        try:
            repo = Repo.init(str(root), no_scm=git is None, subdir=git not in (None, root))
        except Exception as exc:
            raise MLOpsError(f"cannot create a DVC repository in {root}: {exc}") from None
        with repo.config.edit("local") as conf:
            conf["core"]["site_cache_dir"] = str(project.workspace / SITE_CACHE)
        repo.close()
    return root


@contextmanager
def _open(project: Project, root: str | Path | None = None, create: bool = False) -> Iterator[Repo]:
    """A fresh Repo for one operation: DVC caches state per object (a deleted cache stays
    'present' in an old one), so nothing is kept between calls."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    found = find_repo_root(root)
    if found is None:
        if not create:
            raise MLOpsError(
                f"no DVC repository at or above {Path(root or Path.cwd()).resolve()}; "
                "`cursus data add PATH` creates one, or run from inside a repository"
            )
        found = init_repo(project, root)
    with _dvc_env(project), warnings.catch_warnings():
        # DVC's own use of a deprecated pygtrie API; nothing a user can act on
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"dvc\.")
        try:
            repo = Repo(str(found))
        except DvcException as exc:
            raise MLOpsError(f"DVC cannot open the repository at {found}: {exc}") from None
        try:
            yield repo
        except DvcException as exc:
            raise MLOpsError(f"DVC: {exc}") from None
        finally:
            repo.close()


def _remote(project: Project, repo: Repo, remote: str | None) -> tuple[str, str]:
    """The remote to use: `remote` if named, the repository's default remote if it has one,
    else the project's local folder (configured on first use)."""
    config = repo.config
    name = remote or config["core"].get("remote")
    if name:
        if name not in config["remote"]:
            known = ", ".join(config["remote"]) or "none"
            raise MLOpsError(f"DVC remote {name!r} is not configured (remotes: {known})")
        return name, str(config["remote"][name].get("url", ""))
    name = f"cursus-{project.name}"
    url = str(project.dvc_remote)
    if config["remote"].get(name, {}).get("url") != url:
        with repo.config.edit("local") as conf:
            conf["remote"][name] = {"url": url}
    Path(url).mkdir(parents=True, exist_ok=True)
    return name, url


# ---------------------------------------------------------------- add, push, pull, status


def dvc_add(project: Project, path: str | Path, root: str | Path | None = None) -> dict[str, Any]:
    """Version a file or folder: its content goes to the DVC cache, a `.dvc` file records it."""
    import yaml

    target = Path(path).resolve()
    if not target.exists():
        raise MLOpsError(f"{path} does not exist; give a file or folder to version")
    with _open(project, root, create=True) as repo:
        repo_root = Path(repo.root_dir)
        if not target.is_relative_to(repo_root):
            raise MLOpsError(
                f"{target} is outside the DVC repository at {repo_root}; version data that lies "
                "inside it (or run from a folder above the data)"
            )
        if target == repo_root or (repo_root / ".dvc") in (target, *target.parents):
            raise MLOpsError(f"{target} is the repository itself; give a file or folder inside it")
        (stage,) = repo.add(str(target))
        dvc_file = Path(stage.path)
    out = yaml.safe_load(dvc_file.read_text())["outs"][0]
    return {
        "path": str(target),
        "dvc_file": str(dvc_file),
        "md5": out.get("md5"),
        "size": out.get("size"),
        "nfiles": out.get("nfiles", 1),
        "repo": str(repo_root),
    }


def dvc_push(
    project: Project,
    targets: list[str] | None = None,
    remote: str | None = None,
    root: str | Path | None = None,
) -> dict[str, Any]:
    """Copy the cached data of every tracked path (or of `targets`) to the remote."""
    with _open(project, root) as repo:
        name, url = _remote(project, repo, remote)
        pushed = repo.push(targets=targets or None, remote=name)
    return {"remote": name, "url": url, "pushed": int(pushed or 0)}


def dvc_pull(
    project: Project,
    targets: list[str] | None = None,
    remote: str | None = None,
    root: str | Path | None = None,
) -> dict[str, Any]:
    """Fetch missing data from the remote and restore the tracked files in the work tree."""
    with _open(project, root) as repo:
        name, url = _remote(project, repo, remote)
        result = repo.pull(targets=targets or None, remote=name)
    return {
        "remote": name,
        "url": url,
        "fetched": int(result.get("stats", {}).get("fetched", 0)),
        "restored": sorted(
            str(p).rstrip(os.sep) for kind in ("added", "modified") for p in result.get(kind, [])
        ),
    }


def dvc_status(
    project: Project, remote: str | None = None, root: str | Path | None = None
) -> dict[str, Any]:
    """What is tracked, what changed in the work tree since `add`, what the cache or the remote lack."""
    with _open(project, root) as repo:
        name, url = _remote(project, repo, remote)
        status = repo.data_status(not_in_remote=True, remote=name, remote_refresh=True)
        tracked = sorted(str(o) for o in _tracked(repo))
    uncommitted = status.get("uncommitted", {})
    changed = sorted(
        {p for kind in ("modified", "deleted", "added") for p in uncommitted.get(kind, [])}
    )
    return {
        "repo": str(repo.root_dir),
        "remote": name,
        "url": url,
        "tracked": tracked,
        "changed": changed,
        "not_in_cache": _paths(status.get("not_in_cache", [])),
        "not_in_remote": _paths(status.get("not_in_remote", [])),
    }


def _paths(paths: Iterable[str]) -> list[str]:
    """DVC writes a tracked folder as 'name/'; say 'name', as `tracked` does."""
    return sorted({str(p).rstrip("/" + os.sep) for p in paths})


def _tracked(repo: Repo) -> list[str]:
    root = Path(repo.root_dir)
    return [
        Path(out.fs_path).relative_to(root).as_posix()
        for stage in repo.index.stages
        for out in stage.outs
        if Path(out.fs_path).is_relative_to(root)
    ]


# ---------------------------------------------------------------- lineage of a run's data

LINEAGE_SCHEMA = """
CREATE TABLE IF NOT EXISTS data_inputs (
    run_id TEXT NOT NULL,
    pipeline_name TEXT NOT NULL,
    node TEXT NOT NULL,
    input TEXT NOT NULL,
    source TEXT NOT NULL,
    digest TEXT NOT NULL,
    digest_of TEXT NOT NULL,
    step_status TEXT NOT NULL,
    recorded REAL NOT NULL,
    PRIMARY KEY (run_id, node, input)
);
CREATE INDEX IF NOT EXISTS data_inputs_source ON data_inputs(pipeline_name, node, input, source);
"""
DATA_SOURCE_INPUT = "DATA_SOURCE"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


class DataChangedWarning(UserWarning):
    """The data behind a pipeline's input is not what the previous run used."""


@dataclass(frozen=True)
class DataInput:
    node: str
    input: str  # DATA_SOURCE, or the name of an input bound to an external URI
    source: str
    digest: str
    digest_of: str  # "source": the file or folder itself; "output": the step's data output
    step_status: str


def local_path(source: str) -> Path | None:
    """The local file or folder a DATA_SOURCE / URI names, or None (sklearn:, s3://, ...)."""
    location = source.split("?", 1)[0]
    if location.startswith("file://"):
        location = location[len("file://") :]
    elif _SCHEME.match(location):
        return None
    path = Path(location)
    return path if path.exists() else None


def content_digest(path: Path) -> str:
    """sha256 of a file's bytes; of a folder, the artifact store's digest of its files."""
    from cursus.backends.local.store import file_sha256, tree_digest

    return file_sha256(path) if path.is_file() else tree_digest(path)


class DataLineage(RunHooks):
    """Records which data every run used, in `<workspace>/runs.db` table `data_inputs`.

    After each successful step it notes the digest of the step's external inputs: a DataLoading
    step's DATA_SOURCE (the file's own digest when it is a local file or folder, else the digest of
    the data the step wrote) and every input bound to a URI. When the run ends it writes them and
    compares each with the previous run of the same pipeline, node and source; a difference becomes
    a message in `self.warnings` (and a `DataChangedWarning` when `warn` is true).
    """

    def __init__(self, warn: bool = True) -> None:
        self.warn = warn
        self.warnings: list[str] = []
        self.inputs: list[DataInput] = []
        self._pipeline = ""
        self._lock = threading.Lock()

    def before_pipeline_run(self, run_id: str, plan: Plan) -> None:
        self._pipeline = str(plan.pipeline.get("pipeline_name", ""))
        self.warnings, self.inputs = [], []

    def after_step_run(self, run_id: str, step: PlanStep, result: StepResult) -> None:
        if not result.ok:
            return
        found = []
        source = step.env.get(DATA_SOURCE_INPUT)
        if step.step_type == "DataLoading" and source:
            path = local_path(source)
            if path is not None:
                found.append((DATA_SOURCE_INPUT, source, content_digest(path), "source"))
            elif "data" in result.digests:  # a remote source: its URL without a password
                found.append(
                    (DATA_SOURCE_INPUT, redact_text(source), result.digests["data"], "output")
                )
        for name, bound in sorted(step.inputs.items()):
            uri = bound.get("uri")
            path = local_path(uri) if uri else None
            if path is not None:
                found.append((name, str(uri), content_digest(path), "source"))
        with self._lock:
            self.inputs += [DataInput(step.name, *item, result.status) for item in found]

    def after_pipeline_run(self, result: RunResult) -> None:
        db_path = Path(result.workspace) / "runs.db"
        with self._lock:
            inputs = list(self.inputs)
        changes = record_inputs(db_path, result.run_id, self._pipeline, inputs)
        for message in changes:
            import logging  # only here: a cached run's path does not pay for it

            logging.getLogger(__name__).warning(message)
            if self.warn:
                warnings.warn(message, DataChangedWarning, stacklevel=2)
        self.warnings = changes
        result.warnings += changes


@contextmanager
def _lineage_db(db_path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(db_path, timeout=60, isolation_level=None)
    db.row_factory = sqlite3.Row
    try:
        db.execute("PRAGMA busy_timeout=60000")
        db.executescript(LINEAGE_SCHEMA)
        db.execute("BEGIN IMMEDIATE")
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        db.close()


def record_inputs(db_path: Path, run_id: str, pipeline: str, inputs: list[DataInput]) -> list[str]:
    """Store `inputs` for `run_id`; return a message for each that differs from the last run."""
    messages = []
    with _lineage_db(db_path) as db:
        for item in inputs:
            previous = db.execute(
                "SELECT run_id, digest FROM data_inputs WHERE pipeline_name=? AND node=? AND "
                "input=? AND source=? AND run_id<>? ORDER BY recorded DESC, rowid DESC LIMIT 1",
                (pipeline, item.node, item.input, item.source, run_id),
            ).fetchone()
            if previous is not None and previous["digest"] != item.digest:
                messages.append(_changed_message(item, previous["run_id"], previous["digest"]))
            db.execute(
                "INSERT OR REPLACE INTO data_inputs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    pipeline,
                    item.node,
                    item.input,
                    item.source,
                    item.digest,
                    item.digest_of,
                    item.step_status,
                    time.time(),
                ),
            )
    return messages


def _changed_message(item: DataInput, previous_run: str, previous_digest: str) -> str:
    what = "data source" if item.input == DATA_SOURCE_INPUT else f"input '{item.input}'"
    message = (
        f"{item.node}: {what} {item.source} changed since run {previous_run} "
        f"(sha256 {previous_digest[:12]} -> {item.digest[:12]})"
    )
    if item.step_status == "cached" and item.digest_of == "source":
        message += (
            "; the step's output was taken from the cache, so this run used the earlier data: "
            "rerun with --no-cache"
        )
    return message


def data_inputs(workspace: str | Path, run_id: str | None = None) -> list[dict[str, Any]]:
    """What `run_id` (the latest recorded run by default; a unique prefix works) used."""
    db_path = Path(workspace) / "runs.db"
    if not db_path.is_file():
        raise MLOpsError(f"no runs recorded in {workspace}; run a pipeline first")
    with _lineage_db(db_path) as db:
        if run_id is None:
            row = db.execute(
                "SELECT run_id FROM data_inputs ORDER BY recorded DESC, rowid DESC LIMIT 1"
            ).fetchone()
        else:
            # the exact id, else a unique prefix ('_' and '%' in ids are no wildcards)
            ids = db.execute(
                "SELECT DISTINCT run_id FROM data_inputs WHERE run_id=?", (run_id,)
            ).fetchall()
            if not ids:
                ids = db.execute(
                    "SELECT DISTINCT run_id FROM data_inputs WHERE substr(run_id, 1, ?) = ?",
                    (len(run_id), run_id),
                ).fetchall()
            if len(ids) > 1:
                raise MLOpsError(f"'{run_id}' matches {len(ids)} runs; give more of the run id")
            row = ids[0] if ids else None
        if row is None:
            return []
        rows = db.execute(
            "SELECT * FROM data_inputs WHERE run_id=? ORDER BY rowid", (row["run_id"],)
        ).fetchall()
    return [dict(r) for r in rows]
