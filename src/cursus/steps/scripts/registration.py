"""Registration: record the packaged model, its metrics and its lineage in a model registry.

The step talks to the registry through `ModelRegistry`; `open_registry` is the one place that picks
an implementation from MODEL_REGISTRY_URI. Only a local folder registry exists yet; an MLflow one
will plug in behind the same interface.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
from datetime import UTC, datetime
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
PACKAGED_METRICS = {"training": "training_metrics.json", "calibration": "calibration_metrics.json"}
MODEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


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
        return record

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


def open_registry(uri: str) -> ModelRegistry:
    """The registry MODEL_REGISTRY_URI names: a folder path or a file:// URI, for now."""
    parsed = urlparse(uri)
    if parsed.scheme == "":
        return LocalModelRegistry(uri)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        return LocalModelRegistry(url2pathname(parsed.path))
    raise StepInputError(
        f"MODEL_REGISTRY_URI={uri!r} is not supported: this script supports only local registries "
        "yet (a folder path or a file:///absolute/path URI)"
    )


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
    """The metrics files the package carries, read without extracting the model."""
    found: dict[str, Any] = {}
    with tarfile.open(archive, "r:gz") as tar:
        members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}
        for key, filename in PACKAGED_METRICS.items():
            if filename in members:
                handle = tar.extractfile(members[filename])
                assert handle is not None
                found[key] = json.load(handle)
    return found


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
        "registered_at": datetime.now(UTC).isoformat(timespec="seconds"),
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
