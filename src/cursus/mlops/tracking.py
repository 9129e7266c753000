"""Experiment tracking: each pipeline run becomes an MLflow run with one nested run per step.

`MLflowTracking` is a `RunHooks`: the runner calls it and knows nothing of MLflow. Params are each
step's config flattened to dot keys; metrics are what the steps returned plus their hardware use;
artifacts are the plots and reports in outputs of kind 'metrics'; tags name the pipeline, its
version and author, the digest of its DAG, the git commit and, per step, whether it came from cache.

Importing MLflow and opening its store take seconds; a run served from cache takes well under one.
So the hooks only turn what happened into small JSON events, and a writer applies them with
`MlflowClient` and explicit run ids (hooks are called from worker threads; MLflow's fluent API
keeps one active run per thread and is not used). The writer is either a thread of this process,
which starts importing MLflow at once and which the end of the run waits for (the Python API), or
a process of its own that finishes writing after `cursus run` has returned (the CLI).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import queue
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from cursus.backends.local.hooks import RunHooks
from cursus.plan import dag_digest
from cursus.redaction import redact
from cursus.workspace import default_tracking_uri, resolve_workspace

if TYPE_CHECKING:
    from cursus.backends.local.runner import RunResult, StepResult
    from cursus.plan import Plan, PlanStep

log = logging.getLogger(__name__)

REPORT_SUFFIXES = (".png", ".json", ".html")
MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value
MAX_TAG_CHARS = 5000
PARAMS_PER_BATCH = 100  # MLflow's limit per log_batch
PIPELINE_TAG = "cursus_pipeline_run"  # marks a pipeline's parent run (steps are its children)
STATUS = {"succeeded": "FINISHED", "cached": "FINISHED", "failed": "FAILED", "skipped": "KILLED"}
REGISTRATION_RECORD = "registration.json"


# ---------------------------------------------------------------------- opening a store


def tracking_uri_for(uri: str | None = None, workspace: str | Path | None = None) -> str:
    """`uri`, else MLFLOW_TRACKING_URI, else the workspace's SQLite store."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(workspace)


def mlflow_client(uri: str) -> Any:
    """An `MlflowClient` for tracking and registry at `uri`, with its store open.

    Several processes may open a new SQLite store at once (a run's tracking writer and its
    Registration step); creating the tables is done under a file lock so they do not collide.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    from mlflow import MlflowClient

    for name in ("mlflow.store.db.utils", "alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with sqlite_lock(uri):
        if uri.startswith("sqlite:///"):
            _tune_sqlite(Path(uri[len("sqlite:///") :]))
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.search_experiments(max_results=1)
    return client


# ---------------------------------------------------------------------- new stores

STORE_TEMPLATE_ENV = "CURSUS_STORE_CACHE"  # where empty stores are kept [~/.cache/cursus]


def store_template(mlflow_version: str) -> Path:
    """Where the empty store of this MLflow version is kept, one per machine and user."""
    root = os.environ.get(STORE_TEMPLATE_ENV) or (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cursus"
    )
    return Path(root) / f"mlflow-{mlflow_version}-empty.db"


def prepare_store(uri: str) -> str:
    """Give a SQLite store that does not exist yet its tables at once, as a copy of an empty
    store of the installed MLflow: creating them costs ~2 s of migrations, copying ~10 ms.
    Without a template yet, one is built in a background process for the runs after this one
    (this run's steps create their store as before). Returns what was done."""
    if not uri.startswith("sqlite:///"):
        return "not sqlite"
    db = Path(uri[len("sqlite:///") :])
    if db.exists():
        return "exists"
    import importlib.metadata
    import sqlite3

    try:
        template = store_template(importlib.metadata.version("mlflow"))
    except importlib.metadata.PackageNotFoundError:
        return "no mlflow"
    if not template.is_file():
        _build_template_in_background(template)
        return "template building"
    with sqlite_lock(uri):
        if db.exists():
            return "exists"
        partial = db.with_name(f"{db.name}.{os.getpid()}.partial")
        with sqlite3.connect(template) as source, sqlite3.connect(partial) as copy:
            source.backup(copy)  # the backup API: the template may be in WAL mode
        copy.close()
        os.replace(partial, db)
    return "copied"


def _build_template_in_background(template: Path) -> None:
    """A detached process that creates an empty store at `template` (under its lock)."""
    import subprocess
    import sys

    template.parent.mkdir(parents=True, exist_ok=True)
    code = (
        "import sys; from cursus.mlops.tracking import build_template; build_template(sys.argv[1])"
    )
    subprocess.Popen(
        [sys.executable, "-c", code, str(template)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def build_template(path: str) -> None:
    """Create the empty store at `path`: built beside it, then renamed into place."""
    template = Path(path)
    building = template.with_name(template.name + ".building")
    with sqlite_lock(f"sqlite:///{template}"):
        if template.exists():
            return
        building.unlink(missing_ok=True)
        mlflow_client(f"sqlite:///{building}")
        import sqlite3

        with sqlite3.connect(building) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        os.replace(building, template)
        for suffix in ("-wal", "-shm", ".lock"):
            Path(f"{building}{suffix}").unlink(missing_ok=True)


_tuned: set[str] = set()


def _tune_sqlite(db: Path) -> None:
    """Cheap commits for a SQLite store: WAL journal (kept in the file: readers such as the server
    or `cursus models` never block the writer) and, on this process's connections to it,
    synchronous=NORMAL: a commit no longer waits for the disk (fsync at checkpoints only). A crash
    of the machine, not of a process, can lose the last moments of tracking; the file stays
    consistent. Measured: log_metric 20 ms -> 2 ms on a busy disk."""
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    with contextlib.closing(sqlite3.connect(db, timeout=30)) as con:
        if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            con.execute("PRAGMA journal_mode=WAL")
    if not _tuned:
        event.listen(Engine, "connect", _synchronous_normal)
    _tuned.add(str(db.resolve()))


def _synchronous_normal(connection: Any, _record: Any) -> None:
    import sqlite3

    if not isinstance(connection, sqlite3.Connection):
        return
    files = {row[2] for row in connection.execute("PRAGMA database_list")}
    if files & _tuned:
        connection.execute("PRAGMA synchronous=NORMAL")


@contextlib.contextmanager
def sqlite_lock(uri: str) -> Iterator[None]:
    """An exclusive lock on `<db>.lock` for a sqlite:/// URI; nothing for other stores."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    db = Path(uri[len("sqlite:///") :])
    db.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; concurrent first opens are unlikely there
        yield
        return
    with open(db.with_name(db.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_experiment(client: Any, name: str, uri: str) -> str:
    """The id of experiment `name`, created when missing. In a SQLite store its artifacts go to
    `mlartifacts/` beside the database (MLflow's default is ./mlruns of whatever the cwd is)."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return str(found.experiment_id)
    location = None
    if uri.startswith("sqlite:///"):
        folder = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "experiment"
        location = (Path(uri[len("sqlite:///") :]).parent / "mlartifacts" / folder).as_uri()
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except MlflowException as exc:  # created by another process in between
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return str(client.get_experiment_by_name(name).experiment_id)


# ---------------------------------------------------------------------- what gets logged


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """A nested config as MLflow params: {'hyperparameters.eta': '0.1', ...}."""
    if isinstance(value, dict) and value:
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if not prefix:
        return {}
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return {_param_key(prefix): text[:MAX_PARAM_CHARS]}


def _param_key(key: str) -> str:
    return re.sub(r"[^\w.\- /]", "_", key)[:250]


def git_commit(cwd: str | Path) -> str | None:
    """The commit checked out in the repository holding `cwd`; None without git or a repository."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else None


def report_files(step: PlanStep, result: StepResult) -> list[tuple[str, str]]:
    """(artifact folder, file) for each plot and report in the step's outputs of kind 'metrics'."""
    found = []
    for output, spec in sorted(step.outputs.items()):
        folder = result.outputs.get(output)
        if spec.get("kind") != "metrics" or not folder or not os.path.isdir(folder):
            continue
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.is_file() and entry.name.lower().endswith(REPORT_SUFFIXES):
                found.append((output, entry.path))
    return found


def _now_ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------------- the hook


class MLflowTracking(RunHooks):
    """Track every pipeline run in MLflow.

    tracking_uri: where (default: MLFLOW_TRACKING_URI, else `<workspace>/mlflow.db`).
    experiment: the experiment (default: the pipeline's name).
    background: write from a separate process that outlives this one (what `cursus run` uses, so
        tracking adds almost nothing to a run); otherwise from a thread, and the end of the run
        waits until everything is written.
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        experiment: str | None = None,
        workspace: str | Path | None = None,
        background: bool = False,
    ) -> None:
        self.workspace = resolve_workspace(workspace)
        self.tracking_uri = tracking_uri_for(tracking_uri, self.workspace)
        self.experiment = experiment
        self.background = background
        self._writer: _ThreadWriter | _ProcessWriter = (
            _ProcessWriter(self.tracking_uri, self.workspace / "tracking.log")
            if background
            else _ThreadWriter(_Recorder(self.tracking_uri))
        )  # the thread starts now and imports MLflow while the pipeline runs

    @property
    def mlflow_run_ids(self) -> dict[str, str]:
        """Cursus run id -> MLflow run id of the runs written so far (thread writer only)."""
        if isinstance(self._writer, _ThreadWriter):
            return dict(self._writer.recorder.tracked)
        return {}

    @property
    def errors(self) -> list[str]:
        """What could not be written (thread writer only; the process writer logs to tracking.log)."""
        return list(self._writer.recorder.errors) if isinstance(self._writer, _ThreadWriter) else []

    # hooks ------------------------------------------------------------------------

    def before_pipeline_run(self, run_id: str, plan: Plan) -> None:
        if isinstance(self._writer, _ProcessWriter) and self._writer.closed:  # a second run
            self._writer = _ProcessWriter(self.tracking_uri, self.workspace / "tracking.log")
        meta = plan.pipeline
        tags = {
            "cursus_run_id": run_id,
            "pipeline_name": str(meta.get("pipeline_name", "")),
            "pipeline_version": str(meta.get("pipeline_version", "")),
            "author": str(meta.get("author", "")),
            "dag_digest": dag_digest(plan.dag),
        }
        if meta.get("pipeline_description"):
            tags["mlflow.note.content"] = str(meta["pipeline_description"])[:MAX_TAG_CHARS]
        self._writer.send(
            {
                "op": "pipeline_start",
                "run": run_id,
                "time": _now_ms(),
                "experiment": self.experiment or str(meta.get("pipeline_name") or "cursus"),
                "tags": tags,
                "cwd": os.getcwd(),
            }
        )

    def before_step_run(self, run_id: str, step: PlanStep) -> None:
        self._writer.send(
            {
                "op": "step_start",
                "run": run_id,
                "step": step.name,
                "time": _now_ms(),
                "params": flatten(redact(step.config, step.secrets)),
                "tags": _step_tags(step),
            }
        )

    def after_step_run(self, run_id: str, step: PlanStep, result: StepResult) -> None:
        event: dict[str, Any] = {
            "op": "step_end",
            "run": run_id,
            "step": step.name,
            "time": _now_ms(),
            "status": result.status,
            "metrics": dict(result.metrics),
            "hardware": dict(getattr(result, "hardware", {}) or {}),
            "seconds": result.seconds,
            "attempts": result.attempts,
            "error": (result.error or "")[:MAX_TAG_CHARS],
            "artifacts": report_files(step, result) if result.ok else [],
        }
        if result.status == "skipped":  # never started: its run is created here
            event["params"] = flatten(redact(step.config, step.secrets))
            event["tags"] = _step_tags(step)
        if result.ok and step.job_kind == "register":
            event["registration"] = [
                os.path.join(folder, REGISTRATION_RECORD) for folder in result.outputs.values()
            ]
        self._writer.send(event)

    on_step_error = after_step_run

    def after_pipeline_run(self, result: RunResult) -> None:
        self._writer.send(
            {
                "op": "pipeline_end",
                "run": result.run_id,
                "time": _now_ms(),
                "status": result.status,
                "seconds": result.seconds,
            }
        )
        self._writer.close(wait=not self.background)
        for problem in self.errors:
            log.warning("MLflow tracking: %s", problem)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the writer has written everything; False when `timeout` ran out."""
        return self._writer.wait(timeout)


def _step_tags(step: PlanStep) -> dict[str, str]:
    tags = {"step_type": step.step_type, "job_kind": step.job_kind, "framework": step.framework}
    if step.job_type:
        tags["job_type"] = step.job_type
    return tags


# ---------------------------------------------------------------------- applying events


class _Recorder:
    """Turns events into MLflow calls. One instance per writer; events arrive in order."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._client: Any = None
        self.parents: dict[str, str] = {}  # cursus run id -> MLflow run id, while it runs
        self.tracked: dict[str, str] = {}  # the same, for every run started
        self.experiments: dict[str, str] = {}  # cursus run id -> experiment id
        self.steps: dict[tuple[str, str], str] = {}  # (cursus run id, step) -> MLflow run id
        self.summary: dict[str, dict[str, float]] = {}  # cursus run id -> '<step>.<metric>' values
        self.errors: list[str] = []

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = mlflow_client(self.uri)
        return self._client

    def apply(self, event: dict[str, Any]) -> None:
        try:
            getattr(self, f"_{event['op']}")(event)
        except Exception as exc:  # tracking never fails a run; say what was lost
            what = f"{event.get('op')} {event.get('step', '')}".strip()
            self.errors.append(f"{what} of run {event.get('run')}: {type(exc).__name__}: {exc}")

    def abandon(self) -> None:
        """The runner went away without ending its runs (it was killed): mark them so."""
        for (run, _), mlflow_run in list(self.steps.items()):
            self._terminate(mlflow_run, "KILLED")
            self.steps.pop((run, _), None)
        for run, mlflow_run in list(self.parents.items()):
            self._terminate(mlflow_run, "KILLED")
            self.parents.pop(run)

    def _terminate(self, mlflow_run: str, status: str) -> None:
        with contextlib.suppress(Exception):
            self.client.set_terminated(mlflow_run, status, end_time=_now_ms())

    # events -----------------------------------------------------------------------

    def _pipeline_start(self, event: dict[str, Any]) -> None:
        experiment_id = ensure_experiment(self.client, event["experiment"], self.uri)
        tags = {**event["tags"], PIPELINE_TAG: "true"}
        commit = git_commit(event["cwd"])
        if commit:
            tags["git_commit"] = commit
            tags["mlflow.source.git.commit"] = commit
        # a run resumed, or run one step per process (Airflow), continues its MLflow run
        existing = self.client.search_runs(
            [experiment_id],
            filter_string=f"tags.cursus_run_id = '{event['run']}' and tags.{PIPELINE_TAG} = 'true'",
            max_results=1,
        )
        if existing:
            parent = existing[0].info.run_id
            if existing[0].info.status != "RUNNING":
                self.client.update_run(parent, "RUNNING")
        else:
            parent = self.client.create_run(
                experiment_id,
                start_time=event["time"],
                tags=tags,
                run_name=event["run"],
            ).info.run_id
        self.parents[event["run"]] = self.tracked[event["run"]] = parent
        self.experiments[event["run"]] = experiment_id
        self.summary[event["run"]] = {}

    def _step_start(self, event: dict[str, Any]) -> str:
        from mlflow.entities import Param

        parent = self.parents[event["run"]]
        tags = {**event["tags"], "mlflow.parentRunId": parent, "cursus_run_id": event["run"]}
        run = self.client.create_run(
            self.experiments[event["run"]],
            start_time=event["time"],
            tags={k: str(v) for k, v in tags.items()},
            run_name=event["step"],
        )
        run_id = run.info.run_id
        self.steps[(event["run"], event["step"])] = run_id
        params = [Param(k, v) for k, v in sorted(event["params"].items())]
        for start in range(0, len(params), PARAMS_PER_BATCH):
            self.client.log_batch(run_id, params=params[start : start + PARAMS_PER_BATCH])
        return run_id

    def _step_end(self, event: dict[str, Any]) -> None:
        from mlflow.entities import Metric, RunTag

        key = (event["run"], event["step"])
        run_id = self.steps.get(key) or self._step_start(event)
        when = event["time"]
        values = {k: float(v) for k, v in event["metrics"].items()}
        values.update({f"hardware.{k}": float(v) for k, v in event["hardware"].items()})
        if event["status"] == "succeeded":
            values["seconds"] = float(event["seconds"])
        tags = {
            "status": event["status"],
            "cache_hit": str(event["status"] == "cached").lower(),
            "attempts": str(event["attempts"]),
        }
        if event["error"]:
            tags["error"] = event["error"]
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, v, when, 0) for k, v in sorted(values.items())],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        for folder, path in event["artifacts"]:
            self.client.log_artifact(run_id, path, artifact_path=folder)
        for path in event.get("registration", []):
            self._link_registration(event["run"], run_id, path, new=event["status"] == "succeeded")
        self.summary.setdefault(event["run"], {}).update(
            {f"{event['step']}.{k}": v for k, v in event["metrics"].items()}
        )
        self.client.set_terminated(run_id, STATUS.get(event["status"], "FINISHED"), end_time=when)
        self.steps.pop(key, None)

    def _link_registration(self, run: str, step_run_id: str, path: str, new: bool) -> None:
        """Tag the run with the model version it registered and, when the step registered it just
        now (not from cache), the version with the runs.

        A step that found no tracked run of its pipeline (this one's writer starts when a short
        run ends) gave the version a run of its own; that run is nested under the step's, so
        the pipeline's run holds the version's source run all the same."""
        try:
            record = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            return
        ref = f"{record.get('name')}:{record.get('version')}"
        parent = self.parents[run]
        for run_id in (parent, step_run_id):
            self.client.set_tag(run_id, "registered_model", ref)
        if new and record.get("registry") == self.uri:
            for key, value in (("mlflow_run_id", parent), ("mlflow_step_run_id", step_run_id)):
                self.client.set_model_version_tag(
                    record["name"], str(record["version"]), key, value
                )
            own = record.get("mlflow_run_id")
            if own and own not in (parent, step_run_id):
                tags = self.client.get_run(own).data.tags
                if "mlflow.parentRunId" not in tags and tags.get("cursus_run_id") == run:
                    self.client.set_tag(own, "mlflow.parentRunId", step_run_id)

    def _pipeline_end(self, event: dict[str, Any]) -> None:
        parent = self.parents.pop(event["run"])
        metrics = dict(self.summary.pop(event["run"], {}))
        self.experiments.pop(event["run"], None)
        if event["status"] == "running":  # one step of a run others continue: keep it open
            self._log_metrics(parent, metrics, event["time"])
            return
        metrics["seconds"] = float(event["seconds"])
        self._log_metrics(parent, metrics, event["time"])
        status = "FINISHED" if event["status"] == "succeeded" else "FAILED"
        self.client.set_terminated(parent, status, end_time=event["time"])

    def _log_metrics(self, run_id: str, metrics: dict[str, Any], when: int) -> None:
        from mlflow.entities import Metric

        batch = [Metric(k, float(v), when, 0) for k, v in sorted(metrics.items())]
        for start in range(0, len(batch), 1000):
            self.client.log_batch(run_id, metrics=batch[start : start + 1000])


# ---------------------------------------------------------------------- writers


class _ThreadWriter:
    """Applies events in a thread of this process; the thread opens the store at once."""

    def __init__(self, recorder: _Recorder) -> None:
        self.recorder = recorder
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._work, daemon=True, name="cursus-tracking")
        self.thread.start()

    def send(self, event: dict[str, Any]) -> None:
        self.queue.put(event)

    def close(self, wait: bool) -> None:
        self.queue.put(None)
        if wait:
            self.wait()

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.queue.all_tasks_done:
            while self.queue.unfinished_tasks:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self.queue.all_tasks_done.wait(left)
        return True

    def _work(self) -> None:
        try:
            self.recorder.client  # noqa: B018 - import MLflow and open the store before events come
        except Exception as exc:
            self.recorder.errors.append(f"cannot open {self.recorder.uri}: {exc}")
        while True:
            event = self.queue.get()
            try:
                if event is not None:
                    self.recorder.apply(event)
            finally:
                self.queue.task_done()


# The process writer starts this long after its run does, or at the run's end if that is sooner.
# Its MLflow import is ~2 s of CPU, and a first run of the e2e pipeline (~2.5 s) keeps both cores
# of a small machine busy: started 1 s in, tracking made that run 13% slower; a run this short is
# written when it ends (seconds later), a longer one is tracked live from here on.
WRITER_START_SECONDS = 10.0


SPOOL_FOLDER = "tracking-spool"  # next to tracking.log


class _ProcessWriter:
    """Sends events, one JSON line each, to `python -m cursus.mlops.tracking`, which runs in a
    session of its own (Ctrl-C of the terminal does not reach it) and logs to `log_path`.

    The process starts `start_after` seconds in, or when the run ends if that is sooner. A short
    run (a cached one, a first run of a small pipeline) is over before then and shares no core
    with MLflow's import; a longer run is still tracked live.

    Until then events wait in a spool file next to the log, locked (flock) for as long as this
    process or the writer it hands the file to lives. A run killed before its writer started
    (kill -9, a closed terminal, the OOM killer) leaves an unlocked spool, and the next tracked
    run's writer writes it, marking what it left open KILLED (`_claim_orphans`)."""

    def __init__(self, uri: str, log_path: Path, start_after: float | None = None) -> None:
        self.uri = uri
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._spool: IO[bytes] | None = None
        self._spool_path: Path | None = None
        self._spool_failed = False
        self._waiting: list[bytes] = []  # where no spool can be written
        self._closed = False
        self._lock = threading.Lock()
        delay = WRITER_START_SECONDS if start_after is None else start_after
        self._timer = threading.Timer(delay, self._start)
        self._timer.daemon = True
        self._timer.start()
        # a run that ends in an exception (Ctrl-C) tells no hook: what waits here is still
        # handed over as the process exits, and the writer marks the runs it left open KILLED
        atexit.register(self.close, False)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def spool_folder(self) -> Path:
        return self.log_path.parent / SPOOL_FOLDER

    def _open_spool(self) -> None:
        """A new spool, locked before it gets the name that other runs look for."""
        self._spool_failed = True  # unless all of this works
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks, events wait in memory
            return
        name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            self.spool_folder.mkdir(parents=True, exist_ok=True)
            partial = self.spool_folder / f".{name}.tmp"
            handle = open(partial, "wb")  # noqa: SIM115 - held for the writer's lifetime
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                handle.write((json.dumps({"spool": 1, "uri": self.uri}) + "\n").encode())
                handle.flush()
                final = self.spool_folder / f"{name}.jsonl"
                os.replace(partial, final)
            except OSError:
                handle.close()
                raise
        except OSError as exc:
            log.debug("MLflow tracking: no spool in %s (%s); events wait in memory",
                      self.spool_folder, exc)  # fmt: skip
            return
        self._spool, self._spool_path, self._spool_failed = handle, final, False

    def _start(self) -> None:
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        if self.proc is not None:
            return
        handed: list[tuple[str, int, Path]] = []
        if self._spool is not None and self._spool_path is not None:
            handed.append(("--own", self._spool.fileno(), self._spool_path))
        orphans = _claim_orphans(self.spool_folder, self._spool_path)
        handed += [("--orphan", fd, path) for fd, path in orphans]
        command = [sys.executable, "-m", "cursus.mlops.tracking", self.uri]
        for flag, fd, path in handed:
            command += [flag, f"{fd}:{path}"]
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "ab") as out:
                self.proc = subprocess.Popen(
                    command,
                    stdin=subprocess.PIPE,
                    stdout=out,
                    stderr=out,
                    start_new_session=True,
                    env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
                    pass_fds=[fd for _, fd, _ in handed],  # their locks go with them
                )
        except OSError as exc:  # tracking never fails the run
            kept = f"; its events wait in {self._spool_path} for the next tracked run" * bool(
                self._spool_path
            )
            log.warning("MLflow tracking: cannot start the writer process: %s%s", exc, kept)
            self._closed = True
            return
        finally:  # the writer holds the spools now (or, if it did not start, nobody does)
            for fd, _ in orphans:
                os.close(fd)
            if self._spool is not None:
                self._spool.close()
                self._spool = None
        waiting, self._waiting = self._waiting, []
        for line in waiting:
            self._write(line)

    def _write(self, line: bytes) -> None:
        stdin: IO[bytes] | None = self.proc.stdin if self.proc else None
        if stdin is None or stdin.closed:
            return
        try:
            stdin.write(line)
            stdin.flush()
        except OSError:  # the writer died; tracking never fails the run
            pass

    def send(self, event: dict[str, Any]) -> None:
        line = (json.dumps(event) + "\n").encode()
        with self._lock:
            if self._closed:
                return
            if self.proc is not None:
                self._write(line)
                return
            if self._spool is None and not self._spool_failed:
                self._open_spool()
            if self._spool is None:
                self._waiting.append(line)
                return
            try:
                self._spool.write(line)
                self._spool.flush()  # in the kernel's hands: a kill -9 of this process keeps it
            except OSError:
                self._waiting.append(line)

    def close(self, wait: bool) -> None:
        atexit.unregister(self.close)
        with self._lock:
            self._timer.cancel()
            if not self._closed:
                self._start_locked()  # a run shorter than start_after: it starts now
                self._closed = True
            if self.proc and self.proc.stdin and not self.proc.stdin.closed:
                with contextlib.suppress(OSError):
                    self.proc.stdin.close()
        if wait:
            self.wait()

    def wait(self, timeout: float | None = None) -> bool:
        if self.proc is None:  # never started: nothing written, nothing to wait for
            return not self._waiting and self._spool_path is None
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True


def _claim_orphans(folder: Path, own: Path | None) -> list[tuple[int, Path]]:
    """The spools in `folder` whose runs died before their writers started, each locked by an
    open descriptor returned with it. A spool is an orphan when its lock can be taken: the
    kernel drops a dead process's locks, kill -9 included."""
    try:
        import fcntl

        entries = list(os.scandir(folder))
    except (ImportError, OSError):
        return []
    claimed: list[tuple[int, Path]] = []
    for entry in sorted(entries, key=lambda e: e.name):
        if own is not None and entry.path == str(own):
            continue
        if not entry.name.endswith((".jsonl", ".tmp")):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:  # another writer took it and is done with it
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_ino != os.stat(entry.path).st_ino:
                raise FileNotFoundError(entry.path)  # written and removed since it was listed
            if entry.name.endswith(".tmp"):  # died while creating it: it holds no event yet
                os.unlink(entry.path)
                raise FileNotFoundError(entry.path)
        except OSError:  # its run is alive (or another writer has it), or it is gone
            os.close(fd)
            continue
        claimed.append((fd, Path(entry.path)))
    return claimed


def _read_spool(handed: str) -> tuple[str | None, list[str]]:
    """The tracking URI and the event lines of a spool handed over as 'FD:PATH'; the spool is
    removed once read (a writer killed after this loses its events, as a piped one would)."""
    fd_text, _, path = handed.partition(":")
    try:
        with open(path, encoding="utf-8", errors="replace") as spool:
            lines = spool.read().splitlines()
        os.unlink(path)
    except OSError:
        return None, []
    finally:
        with contextlib.suppress(OSError, ValueError):
            os.close(int(fd_text))
    try:
        header = json.loads(lines[0]) if lines else {}
    except json.JSONDecodeError:
        header = {}
    return header.get("uri"), lines[1:]


def _yield_cpu() -> None:
    """Importing MLflow takes CPU seconds: the pipeline run comes first. This process leads a
    session of its own, and where the kernel groups sessions (Linux's autogroup) a nice value
    ranks a process only within its group: the group's own nice is what yields to the run."""
    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)
    with contextlib.suppress(OSError):
        Path("/proc/self/autogroup").write_text("10\n")


def _apply_lines(recorder: _Recorder, lines: Iterable[str]) -> None:
    for line in lines:
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:  # the last line of a spool whose run was killed mid-write
            recorder.errors.append(f"an unreadable event was dropped: {line[:80]!r}")
            continue
        recorder.apply(event)


def _report(uri: str, recorder: _Recorder) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    for problem in recorder.errors:
        print(f"{stamp} tracking to {uri}: {problem}", file=sys.stderr)


def _serve(uri: str, lines: IO[str], own: str | None = None, orphans: Sequence[str] = ()) -> int:
    """The writer process: apply the events of its run's spool (`own`, 'FD:PATH'), then each
    event read from `lines` until end of input. Before those, the spools of runs that were
    killed before their writers started (`orphans`): each is written to the store it names, and
    what its run left open is marked KILLED.

    A thread reads the input from the start, so the runner never blocks on a full pipe while
    MLflow is still being imported here."""
    _yield_cpu()
    received: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in lines:
            received.put(line)
        received.put(None)

    threading.Thread(target=read, daemon=True, name="cursus-tracking-read").start()
    own_lines = _read_spool(own)[1] if own else []
    failed = False
    for handed in orphans:
        orphan_uri, orphan_lines = _read_spool(handed)
        orphan = _Recorder(orphan_uri or uri)
        _apply_lines(orphan, orphan_lines)
        orphan.abandon()  # its runner is dead
        _report(orphan.uri, orphan)
        failed = failed or bool(orphan.errors)
    recorder = _Recorder(uri)
    try:
        recorder.client  # noqa: B018 - open the store while the first events arrive
    except Exception as exc:
        recorder.errors.append(f"cannot open {uri}: {type(exc).__name__}: {exc}")
    _apply_lines(recorder, own_lines)
    _apply_lines(recorder, iter(received.get, None))
    recorder.abandon()
    _report(uri, recorder)
    return 1 if failed or recorder.errors else 0


def _main(argv: Sequence[str]) -> int:
    """`python -m cursus.mlops.tracking URI [--own FD:PATH] [--orphan FD:PATH ...]`"""
    uri, rest = argv[0], list(argv[1:])
    own: str | None = None
    orphans: list[str] = []
    while len(rest) >= 2:
        flag, value = rest.pop(0), rest.pop(0)
        if flag == "--own":
            own = value
        elif flag == "--orphan":
            orphans.append(value)
    return _serve(uri, sys.stdin, own, orphans)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
