"""Reading the model registry that Registration steps write into, and moving its aliases.

Registration (a step script) writes versions; this module finds them again: `cursus models`,
`cursus mlops status` and serving call it. Two registries exist: MLflow's (a `sqlite:///` store or
an `http(s)://` server; the default whenever MLflow is installed) and a plain folder
(`<workspace>/registry/<name>/<version>/model.tar.gz`). Both answer the same questions.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from cursus.mlops.project import MLOpsError
from cursus.workspace import default_registry_uri, mlflow_available, resolve_workspace

MODEL_ARCHIVE = "model.tar.gz"
RECORD_FILE = "registration.json"
ALIASES_FILE = "aliases.json"
CANDIDATE = "candidate"
# tags Registration puts on an MLflow model version (see steps/scripts/registration.py)
METRIC_TAG = "metric."
LINEAGE_TAG = "lineage."
JSON_LINEAGE = ("input_digests", "evaluated_on")  # lineage tags holding a JSON object
EVALUATION = "evaluation"  # the metrics group of the holdout evaluation (Registration)
REF = re.compile(
    r"^(?:models:/)?(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*?)(?:(?:@(?P<alias>[A-Za-z0-9_-]+))|(?:[:/](?P<version>\d+)))?$"
)


@dataclass
class ModelVersion:
    """One registered version, as either registry describes it."""

    name: str
    version: int
    aliases: list[str] = field(default_factory=list)
    created: str = ""
    source: str = ""  # where the registry keeps the archive (a folder path or an artifact URI)
    metrics: dict[str, Any] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "aliases": self.aliases,
            "created": self.created,
            "source": self.source,
            "metrics": self.metrics,
            "lineage": self.lineage,
            "description": self.description,
        }


# ---------------------------------------------------------------------- resolving a reference


def parse_model_ref(ref: str) -> tuple[str, int | None, str | None]:
    """'name@alias', 'name:version' (or 'name/version', 'models:/name/3') or 'name' ->
    (name, version, alias)."""
    match = REF.match(ref.strip())
    if not match:
        raise MLOpsError(
            f"{ref!r} is neither an existing path nor a model reference; "
            "use a model.tar.gz path, a folder holding one, NAME, NAME:VERSION or NAME@ALIAS"
        )
    version = match["version"]
    return match["name"], int(version) if version else None, match["alias"]


def resolve_packaged_model(
    ref: str, workspace: str | Path | None = None, registry_uri: str | None = None
) -> Path:
    """A local path to the model.tar.gz that `ref` names.

    `ref` is a path to a model.tar.gz or to a folder holding one, or a registered model:
    `name@alias`, `name:version` or `name` (its latest version). Registered models are looked up in
    `registry_uri` when given; otherwise in the workspace's MLflow store (when MLflow is installed
    and the store exists) and then in the folder registry `<workspace>/registry`. Models kept by an
    MLflow server are downloaded to `<workspace>/registry-cache/` once.
    """
    path = Path(ref).expanduser()
    if path.is_file():
        return path.resolve()
    if path.is_dir():
        archive = path / MODEL_ARCHIVE
        if archive.is_file():
            return archive.resolve()
        raise MLOpsError(f"folder {path} holds no {MODEL_ARCHIVE}")
    name, version, alias = parse_model_ref(ref)
    root = resolve_workspace(workspace)
    uris = [registry_uri] if registry_uri else _default_lookup(root)
    misses = []
    for uri in uris:
        view = open_registry_view(uri)
        try:
            found = view.get(name, version=version, alias=alias)
        except MLOpsError as exc:
            misses.append(str(exc))
            continue
        return view.packaged_model(found, root / "registry-cache")
    raise MLOpsError(f"cannot resolve model {ref!r}: " + "; ".join(misses))


def _default_lookup(root: Path) -> list[str]:
    uris = []
    mlflow_uri = default_registry_uri(root)
    if mlflow_uri.startswith("sqlite:///") and Path(mlflow_uri[len("sqlite:///") :]).is_file():
        uris.append(mlflow_uri)
    uris.append(str(root / "registry"))
    return uris


def open_registry_view(
    uri: str,
) -> FolderRegistryView | MLflowRegistryView | SqliteRegistryView:
    """The registry `uri` names: a folder path or file:// URI, or an MLflow sqlite:/// or http(s)
    URI. An MLflow SQLite file whose schema this version knows is read without MLflow."""
    parsed = urlparse(uri)
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return FolderRegistryView(Path(uri))
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        return FolderRegistryView(Path(url2pathname(parsed.path)))
    if parsed.scheme == "sqlite":
        return open_sqlite_view(uri) or MLflowRegistryView(uri)
    if parsed.scheme in ("http", "https"):
        return MLflowRegistryView(uri)
    raise MLOpsError(
        f"registry URI {uri!r} is not supported; use a folder path, file:///path, "
        "sqlite:///path/mlflow.db or the http(s):// address of an MLflow server"
    )


# ---------------------------------------------------------------------- folder registry


class FolderRegistryView:
    """The folder registry: <root>/<name>/<version>/{model.tar.gz,registration.json}, and
    <root>/<name>/aliases.json mapping alias -> version."""

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()
        self.uri = str(self.root)

    def model_names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self._numbers(p.name))

    def versions(self, name: str) -> list[ModelVersion]:
        aliases = self.aliases(name)
        found = []
        for number in self._numbers(name):
            folder = self.root / name / str(number)
            record = json.loads((folder / RECORD_FILE).read_text())
            found.append(
                ModelVersion(
                    name=name,
                    version=number,
                    aliases=sorted(a for a, v in aliases.items() if v == number),
                    created=str(record.get("lineage", {}).get("registered_at", "")),
                    source=str(folder),
                    metrics=record.get("metrics", {}),
                    lineage=record.get("lineage", {}),
                )
            )
        return found

    def get(self, name: str, version: int | None = None, alias: str | None = None) -> ModelVersion:
        versions = {v.version: v for v in self.versions(name)}
        if not versions:
            raise MLOpsError(f"no model {name!r} in the folder registry {self.root}")
        if alias is not None:
            version = self.aliases(name).get(alias)
            if version is None:
                raise MLOpsError(f"model {name!r} has no alias {alias!r} in {self.root}")
        if version is None:
            version = max(versions)
        if version not in versions:
            raise MLOpsError(f"model {name!r} has no version {version} in {self.root}")
        return versions[version]

    def aliases(self, name: str) -> dict[str, int]:
        path = self.root / name / ALIASES_FILE
        try:
            return {str(k): int(v) for k, v in json.loads(path.read_text()).items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self.get(name, version=version)
        aliases = {**self.aliases(name), alias: int(version)}
        target = self.root / name / ALIASES_FILE
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".aliases.")
        with os.fdopen(fd, "w") as handle:
            json.dump(aliases, handle, indent=2, sort_keys=True)
        os.replace(tmp, target)

    def packaged_model(self, version: ModelVersion, cache_dir: Path) -> Path:
        return Path(version.source) / MODEL_ARCHIVE

    def _numbers(self, name: str) -> list[int]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        return sorted(
            int(p.name)
            for p in folder.iterdir()
            if p.name.isdigit() and (p / RECORD_FILE).is_file()
        )


# ---------------------------------------------------------------------- MLflow registry


class _MLflowLookups(ABC):
    """What both views of an MLflow registry answer from `versions()`."""

    uri: str

    @abstractmethod
    def versions(self, name: str) -> list[ModelVersion]: ...

    def get(self, name: str, version: int | None = None, alias: str | None = None) -> ModelVersion:
        versions = {v.version: v for v in self.versions(name)}
        if not versions:
            raise MLOpsError(f"no model {name!r} in the MLflow registry {self.uri}")
        if alias is not None:
            matching = [v for v in versions.values() if alias in v.aliases]
            if not matching:
                raise MLOpsError(f"model {name!r} has no alias {alias!r} in {self.uri}")
            return matching[0]
        if version is None:
            version = max(versions)
        if version not in versions:
            raise MLOpsError(f"model {name!r} has no version {version} in {self.uri}")
        return versions[version]

    def aliases(self, name: str) -> dict[str, int]:
        return {a: v.version for v in self.versions(name) for a in v.aliases}


class MLflowRegistryView(_MLflowLookups):
    """MLflow's model registry at `uri` (the same store that tracking writes)."""

    def __init__(self, uri: str) -> None:
        if not mlflow_available():
            raise MLOpsError(f"registry {uri} is an MLflow registry but MLflow is not installed")
        self.uri = uri
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from cursus.mlops.tracking import mlflow_client

            self._client = mlflow_client(self.uri)
        return self._client

    def model_names(self) -> list[str]:
        return sorted(m.name for m in _all_pages(self.client.search_registered_models))

    def versions(self, name: str) -> list[ModelVersion]:
        try:
            model = self.client.get_registered_model(name)
        except Exception as exc:
            if _is_not_found(exc):
                return []
            raise
        by_version: dict[int, list[str]] = {}
        for alias, number in (model.aliases or {}).items():
            by_version.setdefault(int(number), []).append(alias)
        quoted = name.replace("'", "\\'")
        found = [
            _from_mlflow(mv, sorted(by_version.get(int(mv.version), [])))
            for mv in _all_pages(self.client.search_model_versions, f"name='{quoted}'")
        ]
        return sorted(found, key=lambda v: v.version)

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self.get(name, version=version)
        self.client.set_registered_model_alias(name, alias, str(version))

    def packaged_model(self, version: ModelVersion, cache_dir: Path) -> Path:
        """The archive in place when the store is local; otherwise downloaded once into `cache_dir`."""
        uri = self.client.get_model_version_download_uri(version.name, str(version.version))
        local = _local_archive(uri, version)
        if local is not None:
            return local
        target = cache_dir / version.name / str(version.version)
        archive = target / MODEL_ARCHIVE
        if not archive.is_file():
            import mlflow.artifacts

            target.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target) as tmp:
                fetched = Path(
                    mlflow.artifacts.download_artifacts(
                        artifact_uri=f"{uri.rstrip('/')}/{MODEL_ARCHIVE}",
                        dst_path=tmp,
                        tracking_uri=self.uri,
                    )
                )
                os.replace(fetched, archive)
        return archive


def _local_archive(uri: str, version: ModelVersion) -> Path | None:
    """The model archive at a version's download URI when that is a local folder; None when the
    URI is remote (an artifact server, S3)."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file") or parsed.netloc not in ("", "localhost"):
        return None
    archive = Path(url2pathname(parsed.path)) / MODEL_ARCHIVE
    if archive.is_file():
        return archive
    raise MLOpsError(
        f"model {version.name} version {version.version} has no {MODEL_ARCHIVE} at {uri}"
    )


# ------------------------------------------------- MLflow's SQLite file, read without MLflow

# Alembic revisions of MLflow's schema whose registry tables SqliteRegistryView reads; a file at
# any other revision is read through MLflow. tests/mlops/test_registry_sqlite.py fails when the
# installed MLflow's newest revision is missing here: check the tables read below, then add it.
READABLE_SCHEMAS = frozenset({"dc11669786a5"})
DELETED_STAGE = "Deleted_Internal"  # MLflow keeps a deleted version's row, at this stage
PROMPT_TAG = "mlflow.prompt.is_prompt"  # MLflow keeps prompts as models; its searches skip them
MLFLOW_WORKSPACE = "default"  # the only workspace of a store MLflow opens single-tenant


def open_sqlite_view(uri: str) -> SqliteRegistryView | None:
    """A direct reader of the sqlite:/// store at `uri`, or None when MLflow must read it: the
    file is missing (MLflow creates it), its schema is one this version has not checked, or it
    uses MLflow's multi-tenant workspaces."""
    multi_tenant = os.environ.get("MLFLOW_ENABLE_WORKSPACES", "").lower() in ("1", "true")
    if not uri.startswith("sqlite:///") or multi_tenant:
        return None
    db = Path(uri[len("sqlite:///") :])
    if not db.is_file():
        return None
    import sqlite3

    from cursus.readonly_sqlite import connect_ro

    try:
        with connect_ro(db) as con:
            (revision,) = con.execute("SELECT version_num FROM alembic_version").fetchone()
            other = con.execute(
                "SELECT 1 FROM registered_models WHERE workspace IS NOT ? LIMIT 1",
                (MLFLOW_WORKSPACE,),
            ).fetchone()
    except (sqlite3.Error, TypeError, ValueError):  # not an MLflow store, or a damaged one
        return None
    if revision not in READABLE_SCHEMAS or other is not None:
        return None
    return SqliteRegistryView(uri, db)


class SqliteRegistryView(_MLflowLookups):
    """MLflow's registry in a local SQLite file, read with sqlite3 and answering as
    `MLflowRegistryView` does (deleted versions and prompts left out), without importing MLflow:
    `cursus models list` takes ~0.1 s instead of ~3 s. Moving an alias and downloading a remote
    archive go through MLflow. Opened by `open_sqlite_view`, for the schemas it knows."""

    def __init__(self, uri: str, db: Path) -> None:
        self.uri = uri
        self.db = db

    @contextmanager
    def _reading(self) -> Iterator[Callable[..., list[Any]]]:
        """A query function on one read-only connection, in one read transaction: the queries
        of one answer all see the same commit. Each query's ?1 is MLflow's workspace."""
        from cursus.readonly_sqlite import connect_ro

        with connect_ro(self.db) as con:
            con.execute("BEGIN")

            def rows(sql: str, *args: Any) -> list[Any]:
                return con.execute(sql, (MLFLOW_WORKSPACE, *args)).fetchall()

            yield rows

    def model_names(self) -> list[str]:
        with self._reading() as rows:
            found = rows(
                "SELECT name FROM registered_models m WHERE workspace = ?1 AND NOT EXISTS ("
                " SELECT 1 FROM registered_model_tags t WHERE t.workspace = ?1"
                " AND t.name = m.name AND t.key = ?2 AND t.value = 'true')",
                PROMPT_TAG,
            )
        return sorted(r["name"] for r in found)

    def versions(self, name: str) -> list[ModelVersion]:
        with self._reading() as rows:
            if not rows("SELECT 1 FROM registered_models WHERE workspace = ?1 AND name = ?2", name):
                return []
            found = rows(
                "SELECT version, creation_time, source, description FROM model_versions v"
                " WHERE workspace = ?1 AND name = ?2 AND current_stage != ?3 AND NOT EXISTS ("
                " SELECT 1 FROM model_version_tags t WHERE t.workspace = ?1 AND t.name = v.name"
                " AND t.key = ?4 AND t.value = 'true')",
                name,
                DELETED_STAGE,
                PROMPT_TAG,
            )
            alias_rows = rows(
                "SELECT alias, version FROM registered_model_aliases"
                " WHERE workspace = ?1 AND name = ?2",
                name,
            )
            tag_rows = rows(
                "SELECT version, key, value FROM model_version_tags"
                " WHERE workspace = ?1 AND name = ?2",
                name,
            )
        aliases: dict[int, list[str]] = {}
        for row in alias_rows:
            aliases.setdefault(int(row["version"]), []).append(row["alias"])
        tags: dict[int, dict[str, str]] = {}
        for row in tag_rows:
            tags.setdefault(int(row["version"]), {})[row["key"]] = row["value"]
        versions = [
            _version_from(
                name,
                int(row["version"]),
                sorted(aliases.get(int(row["version"]), [])),
                row["creation_time"],
                str(row["source"]),
                tags.get(int(row["version"]), {}),
                row["description"] or "",
            )
            for row in found
        ]
        return sorted(versions, key=lambda v: v.version)

    def set_alias(self, name: str, alias: str, version: int) -> None:
        MLflowRegistryView(self.uri).set_alias(name, alias, version)

    def packaged_model(self, version: ModelVersion, cache_dir: Path) -> Path:
        with self._reading() as rows:
            found = rows(
                "SELECT storage_location, source FROM model_versions"
                " WHERE workspace = ?1 AND name = ?2 AND version = ?3",
                version.name,
                version.version,
            )
        if found:
            local = _local_archive(str(found[0]["storage_location"] or found[0]["source"]), version)
            if local is not None:
                return local
        return MLflowRegistryView(self.uri).packaged_model(version, cache_dir)


def _from_mlflow(mv: Any, aliases: list[str]) -> ModelVersion:
    return _version_from(
        mv.name,
        int(mv.version),
        aliases,
        mv.creation_timestamp,
        str(mv.source),
        dict(mv.tags or {}),
        mv.description or "",
    )


def _version_from(
    name: str,
    version: int,
    aliases: list[str],
    creation_ms: int,
    source: str,
    tags: dict[str, str],
    description: str,
) -> ModelVersion:
    """A version as Registration's tags describe it: `metric.<group>.<name>` and
    `lineage.<key>` (JSON for the keys in JSON_LINEAGE)."""
    metrics: dict[str, Any] = {}
    for key, value in tags.items():
        if key.startswith(METRIC_TAG):
            group, _, metric = key[len(METRIC_TAG) :].partition(".")
            metrics.setdefault(group, {})[metric] = _number(value)
    lineage: dict[str, Any] = {}
    for key, value in tags.items():
        if key.startswith(LINEAGE_TAG):
            field_name = key[len(LINEAGE_TAG) :]
            lineage[field_name] = _json_or_text(value) if field_name in JSON_LINEAGE else value
    from datetime import UTC, datetime

    created = datetime.fromtimestamp(creation_ms / 1000, UTC).isoformat(timespec="seconds")
    return ModelVersion(
        name=name,
        version=version,
        aliases=aliases,
        created=created,
        source=source,
        metrics=metrics,
        lineage=lineage,
        description=description,
    )


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:  # a tag someone edited by hand: shown as it is
        return value


def _number(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value


def _all_pages(search: Any, *args: Any) -> list[Any]:
    found: list[Any] = []
    token = None
    while True:
        page = (
            search(*args, max_results=200, page_token=token)
            if token
            else search(*args, max_results=200)
        )
        found.extend(page)
        token = page.token
        if not token:
            return found


def _is_not_found(exc: Exception) -> bool:
    return getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"


# ---------------------------------------------------------------------- registering


def register_packaged_model(
    path: str | Path,
    name: str,
    registry_uri: str,
    metrics: dict[str, Any] | None = None,
    lineage: dict[str, Any] | None = None,
    mlflow_run_id: str | None = None,
    experiment: str | None = None,
) -> dict[str, Any]:
    """Register a model.tar.gz (or a folder holding one) outside a pipeline, the way the
    Registration step does: a new version of `name` with the alias `candidate`. Metrics default to
    those the package carries; `mlflow_run_id` links the version to a run (MLflow registry only)."""
    archive = resolve_packaged_model(str(path)) if Path(path).expanduser().exists() else None
    if archive is None:
        raise MLOpsError(f"{path} is neither a model.tar.gz nor a folder holding one")
    step = _registration_script()
    payload = archive.with_name("payload.tar.gz")
    record_lineage = {**step.lineage({}, archive), "source": str(archive), **(lineage or {})}
    if registry_uri.startswith(("sqlite:", "http:", "https:")):
        registry = step.MLflowModelRegistry(
            registry_uri, experiment=experiment, source_run_id=mlflow_run_id
        )
    else:
        registry = step.open_registry(registry_uri)
    try:
        return registry.register(
            name,
            archive,
            step.packaged_metrics(archive) if metrics is None else metrics,
            record_lineage,
            payload if payload.is_file() else None,
        )
    except step.StepInputError as exc:
        raise MLOpsError(str(exc)) from None


def _registration_script() -> Any:
    """The Registration step's script, loaded as the runner loads it (it is a plain file)."""
    from cursus.steps.library import get_step_unit

    return get_step_unit("Registration").import_script()


# ---------------------------------------------------------------------- showing what a model scored


def readable(value: Any) -> str:
    """A metric for reading: whole numbers as they are, others to 4 significant digits."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def metric_groups(version: ModelVersion) -> list[tuple[str, list[tuple[str, str]]]]:
    """The version's scalar metrics by group, readable, the holdout evaluation first."""
    order = sorted(version.metrics, key=lambda g: (g != EVALUATION, g))
    groups = []
    for group in order:
        values = version.metrics[group]
        if not isinstance(values, dict):
            continue
        shown = [
            (k, readable(v))
            for k, v in sorted(values.items())
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        if shown:
            groups.append((group, shown))
    return groups


def measured_on(version: ModelVersion) -> str:
    """Where the holdout metrics were measured: "calibration split, 171 rows (0: 55, 1: 116)"."""
    data = version.lineage.get("evaluated_on")
    if not isinstance(data, dict):
        return ""
    text = f"{data.get('split', '?')} split, {data.get('rows', '?')} rows"
    counts = data.get("class_counts")
    if isinstance(counts, dict) and counts:
        text += " (" + ", ".join(f"{k}: {v}" for k, v in counts.items()) + ")"
    return text
