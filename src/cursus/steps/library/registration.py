"""Registration: record the packaged model, its metrics and its lineage in a model registry.

The step talks to the registry through `ModelRegistry`; `open_registry` is the one place that picks
an implementation from MODEL_REGISTRY_URI: a local folder registry (a path or file:// URI) or
MLflow's model registry (sqlite:/// store or http(s):// server; what the local runner uses when
MLflow is installed). Both give the new version the alias `candidate`. MLflow is imported only
when an MLflow registry is asked for, so SageMaker containers never need it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlparse
from urllib.request import url2pathname

from _tabular import StepInputError, env_json, env_str, save_json

CONTAINER_INPUTS = {
    "packaged_model": "/opt/ml/processing/input/packaged_model",
    "payload_sample": "/opt/ml/processing/input/payload",
}
CONTAINER_OUTPUTS = {"registration_output": "/opt/ml/processing/output/registration"}
ENV_VARS = [
    "MODEL_NAME",
    "MODEL_REGISTRY_URI",
    "PIPELINE_NAME",
    "PIPELINE_VERSION",
    "CURSUS_RUN_ID",
    "CURSUS_INPUT_DIGESTS",
]

MODEL_ARCHIVE = "model.tar.gz"
PAYLOAD_ARCHIVE = "payload.tar.gz"
RECORD_FILE = "registration.json"
EVALUATION = "evaluation"
PACKAGED_METRICS = {
    "training": "training_metrics.json",
    "calibration": "calibration_metrics.json",
    EVALUATION: "evaluation.json",  # {"metrics": ..., "data": ...} of the holdout evaluation
}
MODEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
ALIASES_FILE = "aliases.json"
CANDIDATE = "candidate"  # the alias every new version gets; promotion moves others


@runtime_checkable
class ModelRegistry(Protocol):
    """Where registered model versions live."""

    def register(
        self,
        name: str,
        model_path: Path,
        metrics: dict[str, Any],
        lineage: dict[str, Any],
        payload_path: Path | None,
    ) -> dict[str, Any]:
        """Store a new version of model `name`; return its record (at least `name` and `version`)."""
        ...


class LocalModelRegistry:
    """A folder registry: <root>/<model name>/<version>/ holds model.tar.gz, payload.tar.gz when
    given, and registration.json. A version is complete once registration.json exists; it is
    written last, by rename."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()

    @property
    def uri(self) -> str:
        return self.root.as_uri()

    def register(
        self,
        name: str,
        model_path: Path,
        metrics: dict[str, Any],
        lineage: dict[str, Any],
        payload_path: Path | None,
    ) -> dict[str, Any]:
        check_model_name(name)
        # one registration of a model at a time: an identical model registered meanwhile (by a
        # concurrent run) is found, not registered twice
        with _locked(self.root / name / (ALIASES_FILE + ".lock")):
            same = self._same_model(name, lineage.get("model_sha256"))
            if same is not None:  # registering an identical model again changes nothing
                return {**same, "reused": True}
            version, version_dir = self._claim_version(self.root / name)
            shutil.copyfile(model_path, version_dir / MODEL_ARCHIVE)
            if payload_path is not None:
                shutil.copyfile(payload_path, version_dir / PAYLOAD_ARCHIVE)
            record = {
                "registry": self.uri,
                "name": name,
                "version": version,
                "model_uri": (version_dir / MODEL_ARCHIVE).as_uri(),
                "payload_uri": (version_dir / PAYLOAD_ARCHIVE).as_uri()
                if payload_path is not None
                else None,
                "metrics": metrics,
                "lineage": lineage,
            }
            _write_json_atomically(record, version_dir / RECORD_FILE)
            self._set_candidate(self.root / name, version)
        return record

    @staticmethod
    def _set_candidate(model_root: Path, version: int) -> None:
        """aliases.json maps alias -> version; `candidate` moves to the newest version.
        Called with the model's lock held."""
        path = model_root / ALIASES_FILE
        aliases = json.loads(path.read_text()) if path.is_file() else {}
        if version >= int(aliases.get(CANDIDATE, 0)):
            aliases[CANDIDATE] = version
            _write_json_atomically(aliases, path)

    def _same_model(self, name: str, sha256: Any) -> dict[str, Any] | None:
        """The record of a complete version of `name` whose archive has digest `sha256`."""
        for version in reversed(self.versions(name)) if sha256 else []:
            record = json.loads((self.root / name / str(version) / RECORD_FILE).read_text())
            if (record.get("lineage") or {}).get("model_sha256") == sha256:
                return record
        return None

    def versions(self, name: str) -> list[int]:
        """Complete versions of `name`, oldest first."""
        model_root = self.root / name
        if not model_root.is_dir():
            return []
        return sorted(
            int(p.name)
            for p in model_root.iterdir()
            if p.name.isdigit() and (p / RECORD_FILE).is_file()
        )

    @staticmethod
    def _claim_version(model_root: Path) -> tuple[int, Path]:
        """Take the next free version number. mkdir either creates the folder or fails, atomically,
        so processes registering at once each end up with a different number."""
        model_root.mkdir(parents=True, exist_ok=True)
        taken = [int(p.name) for p in model_root.iterdir() if p.name.isdigit()]
        version = max(taken, default=0) + 1
        while True:
            try:
                os.mkdir(model_root / str(version))
                return version, model_root / str(version)
            except FileExistsError:
                version += 1


class MLflowModelRegistry:
    """MLflow's model registry at a sqlite:/// store or an http(s):// tracking server.

    The archive (and payload, metrics.json, lineage.json) is stored as an MLflow logged model in the
    experiment named after the pipeline, linked to the pipeline's tracked run when there is one; the
    model version carries the scalar metrics as `metric.<group>.<name>` tags, the lineage as
    `lineage.<field>` tags, a one-line description, and the alias `candidate`.
    """

    def __init__(
        self, uri: str, experiment: str | None = None, source_run_id: str | None = None
    ) -> None:
        self.uri = uri
        self.experiment = experiment  # default: the pipeline's name
        self.source_run_id = source_run_id  # default: the pipeline run's tracked MLflow run

    def register(
        self,
        name: str,
        model_path: Path,
        metrics: dict[str, Any],
        lineage: dict[str, Any],
        payload_path: Path | None,
    ) -> dict[str, Any]:
        check_model_name(name)
        client = self._client()
        # one registration of a model at a time (a SQLite store; a server's clients race):
        # an identical model registered meanwhile is found, not registered twice
        with _locked(_sqlite_path(self.uri, f".{name}.lock")):
            same = self._same_model(client, name, lineage.get("model_sha256"))
            if same is not None:
                return same
            return self._register(client, name, model_path, metrics, lineage, payload_path)

    def _same_model(self, client: Any, name: str, sha256: Any) -> dict[str, Any] | None:
        """The record of a version of `name` whose archive has digest `sha256`, if any."""
        if not sha256:
            return None
        from mlflow.exceptions import MlflowException

        try:
            versions = client.search_model_versions(f"name = '{name}'")
        except MlflowException:
            return None
        for mv in sorted(versions, key=lambda v: -int(v.version)):
            if (mv.tags or {}).get("lineage.model_sha256") == sha256:
                location = str(mv.source).rstrip("/")
                return {
                    "registry": self.uri,
                    "name": name,
                    "version": int(mv.version),
                    "aliases": list(getattr(mv, "aliases", []) or []),
                    "model_uri": f"models:/{name}/{mv.version}",
                    "archive_uri": f"{location}/{MODEL_ARCHIVE}",
                    "mlflow_run_id": mv.run_id,
                    "reused": True,
                }
        return None

    def _register(
        self,
        client: Any,
        name: str,
        model_path: Path,
        metrics: dict[str, Any],
        lineage: dict[str, Any],
        payload_path: Path | None,
    ) -> dict[str, Any]:
        experiment = self.experiment or lineage.get("pipeline_name") or "cursus-models"
        experiment_id = self._experiment(client, experiment)
        source_run = self.source_run_id or self._pipeline_run(
            client, experiment_id, lineage.get("run_id")
        )
        own_run = None
        if source_run is None:  # untracked pipeline run: the registration gets a run of its own
            own_run = client.create_run(
                experiment_id,
                run_name=f"register-{name}",
                tags={"cursus_run_id": str(lineage.get("run_id")), "registered_model": name},
            ).info.run_id
            source_run = own_run
        tags = {**_metric_tags(metrics), **_lineage_tags(lineage)}
        with tempfile.TemporaryDirectory(prefix="cursus-register-") as tmp:
            shutil.copyfile(model_path, Path(tmp) / MODEL_ARCHIVE)
            if payload_path is not None:
                shutil.copyfile(payload_path, Path(tmp) / PAYLOAD_ARCHIVE)
            save_json(metrics, Path(tmp) / "metrics.json")
            save_json(lineage, Path(tmp) / "lineage.json")
            logged = client.create_logged_model(
                experiment_id,
                name=re.sub(r"[/:.%\"']", "-", name),  # a logged model's name may not hold '.'
                source_run_id=source_run,
                tags=tags,
                model_type="cursus",
            )
            client.log_model_artifacts(logged.model_id, tmp)
        from mlflow.entities import LoggedModelStatus

        client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
        self._ensure_registered_model(client, name)
        version = client.create_model_version(
            name,
            source=logged.artifact_location,
            run_id=source_run,
            tags=tags,
            description=_describe(metrics, lineage),
            model_id=logged.model_id,
            await_creation_for=0,  # MLflow's own registries create versions READY at once
        )
        client.set_registered_model_alias(name, CANDIDATE, version.version)
        if own_run is not None:
            client.set_tag(own_run, "registered_model", f"{name}:{version.version}")
            client.set_terminated(own_run)
        location = logged.artifact_location.rstrip("/")
        return {
            "registry": self.uri,
            "name": name,
            "version": int(version.version),
            "aliases": [CANDIDATE],
            "model_uri": f"models:/{name}/{version.version}",
            "archive_uri": f"{location}/{MODEL_ARCHIVE}",
            "payload_uri": f"{location}/{PAYLOAD_ARCHIVE}" if payload_path is not None else None,
            "mlflow_model_id": logged.model_id,
            "mlflow_run_id": source_run,
            "metrics": metrics,
            "lineage": lineage,
        }

    def _client(self) -> Any:
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        try:
            from mlflow import MlflowClient
        except ImportError:
            raise StepInputError(
                f"MODEL_REGISTRY_URI={self.uri!r} is an MLflow registry, but MLflow is not "
                "installed in this environment; install mlflow or use a folder registry"
            ) from None
        import logging

        for quiet in ("mlflow.store.db.utils", "alembic.runtime.migration"):
            logging.getLogger(quiet).setLevel(logging.WARNING)  # table creation is routine here
        with _locked(_sqlite_path(self.uri, ".lock")):  # first open creates the tables
            client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
            client.search_experiments(max_results=1)
        return client

    def _experiment(self, client: Any, name: str) -> str:
        """The experiment's id, created when missing; a SQLite store keeps its artifacts in
        mlartifacts/ beside the database (MLflow would use ./mlruns of the current folder)."""
        from mlflow.exceptions import MlflowException

        found = client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        db = _sqlite_path(self.uri, "")
        location = None
        if db is not None:
            folder = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "experiment"
            location = (db.parent / "mlartifacts" / folder).as_uri()
        try:
            return str(client.create_experiment(name, artifact_location=location))
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return str(client.get_experiment_by_name(name).experiment_id)

    @staticmethod
    def _pipeline_run(client: Any, experiment_id: str, run_id: str | None) -> str | None:
        """The MLflow run that tracks this pipeline run, when tracking has created it already."""
        if not run_id or not re.fullmatch(r"[A-Za-z0-9._-]+", run_id):
            return None
        runs = client.search_runs(
            [experiment_id], filter_string=f"attributes.run_name = '{run_id}'", max_results=1
        )
        return runs[0].info.run_id if runs else None

    @staticmethod
    def _ensure_registered_model(client: Any, name: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            client.create_registered_model(
                name, description="Registered by Cursus Registration steps."
            )
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise


def _metric_tags(metrics: dict[str, Any]) -> dict[str, str]:
    """Scalar metrics as model version tags: {'metric.training.val_auc': '0.98', ...}."""
    tags = {}
    for group, values in metrics.items():
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                tags[f"metric.{group}.{key}"] = repr(value)
    return tags


def _lineage_tags(lineage: dict[str, Any]) -> dict[str, str]:
    return {
        f"lineage.{key}": json.dumps(value, sort_keys=True)
        if isinstance(value, dict)
        else str(value)
        for key, value in lineage.items()
        if value is not None
    }


HEADLINE = {
    EVALUATION: ("roc_auc", "macro_roc_auc", "accuracy", "macro_f1", "rmse", "r2"),
    "training": ("val_auc", "val_log_loss"),
    "calibration": ("brier_after", "ece_after"),
}


def _describe(metrics: dict[str, Any], lineage: dict[str, Any]) -> str:
    headline = [
        f"{'holdout ' if group == EVALUATION else ''}{key}={value:.4g}"
        for group, keys in HEADLINE.items()
        for key, value in sorted((metrics.get(group) or {}).items())
        if key in keys and isinstance(value, (int, float))
    ]
    source = f"{lineage.get('pipeline_name')} {lineage.get('pipeline_version')}"
    return f"From {source}, run {lineage.get('run_id')}" + (
        f": {', '.join(headline)}" if headline else ""
    )


def open_registry(uri: str) -> ModelRegistry:
    """The registry MODEL_REGISTRY_URI names: a folder path or file:// URI (local folder), a
    sqlite:/// path or an http(s):// MLflow server (MLflow's model registry)."""
    parsed = urlparse(uri)
    if parsed.scheme == "":
        return LocalModelRegistry(uri)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        return LocalModelRegistry(url2pathname(parsed.path))
    if (parsed.scheme == "sqlite" and uri.startswith("sqlite:///")) or (
        parsed.scheme in ("http", "https") and parsed.netloc
    ):
        return MLflowModelRegistry(uri)
    raise StepInputError(
        f"MODEL_REGISTRY_URI={uri!r} is not supported: this script supports only local registries "
        "(a folder path or a file:///absolute/path URI) and MLflow registries (sqlite:///path/to/mlflow.db "
        "or the http(s):// address of an MLflow server)"
    )


def _sqlite_path(uri: str, suffix: str) -> Path | None:
    """For sqlite:///path/db, the database path with `suffix` added; None for other URIs."""
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(uri[len("sqlite:///") :])
    return db.with_name(db.name + suffix)


@contextlib.contextmanager
def _locked(path: Path | None) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` (nothing when None or without fcntl)."""
    if path is None:
        yield
        return
    try:
        import fcntl
    except ImportError:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_model_name(name: str) -> None:
    if not MODEL_NAME_PATTERN.fullmatch(name):
        raise StepInputError(
            f"MODEL_NAME={name!r} is not a usable model name; use letters, digits, '.', '_' and '-' "
            "(at most 128 characters, starting with a letter or digit)"
        )


def _write_json_atomically(obj: Any, path: Path) -> None:
    partial = path.with_name(path.name + ".partial")
    save_json(obj, partial)
    os.replace(partial, path)


# ---------------------------------------------------------------- what gets recorded


def packaged_metrics(archive: Path) -> dict[str, Any]:
    """The metrics files the package carries, read without extracting the model: training,
    calibration, and the holdout evaluation's metrics (group `evaluation`)."""
    found: dict[str, Any] = {}
    with tarfile.open(archive, "r:gz") as tar:
        members = {_archive_name(m.name): m for m in tar.getmembers() if m.isfile()}
        for key, filename in PACKAGED_METRICS.items():
            if filename in members:
                handle = tar.extractfile(members[filename])
                assert handle is not None
                found[key] = json.load(handle)
    evaluation = found.pop(EVALUATION, None)
    if isinstance(evaluation, dict) and isinstance(evaluation.get("metrics"), dict):
        found[EVALUATION] = evaluation["metrics"]
    return found


def evaluated_on(archive: Path) -> Any:
    """The data the packaged evaluation was measured on (split, rows, classes), if any."""
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and _archive_name(member.name) == PACKAGED_METRICS[EVALUATION]:
                handle = tar.extractfile(member)
                assert handle is not None
                return json.load(handle).get("data")
    return None


def _archive_name(name: str) -> str:
    """A member name without a leading './' (str.removeprefix is Python 3.9+; images ran 3.8)."""
    return name[2:] if name.startswith("./") else name


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def lineage(environ: dict[str, str], archive: Path) -> dict[str, Any]:
    digests = env_json(environ, "CURSUS_INPUT_DIGESTS", {})
    if not isinstance(digests, dict):
        raise StepInputError("CURSUS_INPUT_DIGESTS must be a JSON object (input name -> digest)")
    return {
        "pipeline_name": env_str(environ, "PIPELINE_NAME"),
        "pipeline_version": env_str(environ, "PIPELINE_VERSION"),
        "run_id": env_str(environ, "CURSUS_RUN_ID"),
        "input_digests": digests,
        "model_sha256": sha256_file(archive),
        "evaluated_on": evaluated_on(archive),
        # timezone.utc, not datetime.UTC: that alias is Python 3.11+
        "registered_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),  # noqa: UP017
    }


def _input_file(input_paths: dict[str, str], name: str, filename: str) -> Path | None:
    """`filename` inside input `name`; None when the (optional) input is not wired."""
    if not input_paths.get(name):
        return None
    path = Path(input_paths[name]) / filename
    if not path.is_file():
        raise StepInputError(f"input {name} ({input_paths[name]}) has no {filename}")
    return path


# ---------------------------------------------------------------- step


def main(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    name = env_str(environ_vars, "MODEL_NAME")
    uri = env_str(environ_vars, "MODEL_REGISTRY_URI")
    if name is None or uri is None:
        raise StepInputError("set MODEL_NAME and MODEL_REGISTRY_URI; registration needs both")
    archive = _input_file(input_paths, "packaged_model", MODEL_ARCHIVE)
    if archive is None:
        raise StepInputError("input packaged_model is required: bind it to the output of Package")
    registry = open_registry(uri)
    record = registry.register(
        name,
        archive,
        packaged_metrics(archive),
        lineage(environ_vars, archive),
        _input_file(input_paths, "payload_sample", PAYLOAD_ARCHIVE),
    )
    save_json(record, Path(output_paths["registration_output"]) / RECORD_FILE)
    return {"model_version": record["version"]}


def prewarm(environ_vars: dict[str, str]) -> None:
    """Called by the local runner in a process started before this step is due: open the MLflow
    registry's stores and run one read of each kind the registration makes, so that MLflow's
    one-time set-up (schema checks, the first compiled queries: ~0.2 s) is done before the model
    exists. It reads and never writes, beyond the tables a new store gets on its first open."""
    uri = env_str(environ_vars, "MODEL_REGISTRY_URI")
    if uri is None:
        return
    registry = open_registry(uri)
    if not isinstance(registry, MLflowModelRegistry):
        return
    client = registry._client()
    client.get_experiment_by_name("cursus-prewarm")
    client.search_runs(["0"], filter_string="attributes.run_name = 'cursus-prewarm'", max_results=1)
    client.search_model_versions("name = 'cursus-prewarm'")
    with contextlib.suppress(Exception):  # a model of that name does not exist
        client.get_registered_model("cursus-prewarm")


def _mounted_inputs() -> dict[str, str]:
    """The optional payload channel is absent from the container when not wired."""
    return {name: path for name, path in CONTAINER_INPUTS.items() if os.path.isdir(path)}


if __name__ == "__main__":
    for folder in CONTAINER_OUTPUTS.values():
        os.makedirs(folder, exist_ok=True)
    result = main(
        _mounted_inputs(),
        dict(CONTAINER_OUTPUTS),
        {name: os.environ[name] for name in ENV_VARS if name in os.environ},
        {},
    )
    print(json.dumps(result, indent=2))
