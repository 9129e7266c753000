"""A project: one namespace in a workspace that every MLOps service reads its settings from.

`<workspace>/projects/<name>.json` holds where a project's runs are tracked, where its data is
pushed, how its registered models are named and which loopback port serves it. The file is
written once, at first use, so the serving port stays the same across sessions.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cursus.errors import CursusError
from cursus.names import NameError_, plain_name
from cursus.workspace import (
    default_registry_uri,
    default_tracking_uri,
    resolve_workspace,
)

PROJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
DEFAULT_PROJECT = "default"


class MLOpsError(CursusError):
    """An MLOps service (tracking, registry, data, serving) cannot do what was asked."""


def free_port(avoid: set[int] | frozenset[int] = frozenset()) -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it), not one of `avoid`."""
    import socket  # here: the CLI's other paths need no socket module

    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in avoid:
            return port


@dataclass
class Project:
    """The settings of one project. Paths are absolute; URIs are what MLflow and DVC take."""

    name: str
    workspace: Path
    experiment: str
    tracking_uri: str
    artifacts_dir: Path
    dvc_remote: Path
    registry_prefix: str
    serving_port: int
    created_at: str = ""

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, name: str = DEFAULT_PROJECT, workspace: str | Path | None = None) -> Project:
        """Read project `name` from the workspace, creating it (and picking its port) at first use."""
        check_project_name(name)
        root = resolve_workspace(workspace)
        path = project_file(root, name)
        if path.is_file():
            return cls.from_dict(json.loads(path.read_text()), root)
        project = cls.new(name, root)
        project.save()
        return project

    @classmethod
    def new(cls, name: str, workspace: Path) -> Project:
        taken = {p.serving_port for p in list_projects(workspace)}
        return cls(
            name=name,
            workspace=workspace,
            experiment=name,
            tracking_uri=default_tracking_uri(workspace),
            artifacts_dir=workspace / "mlartifacts",
            dvc_remote=workspace / "dvc-remote" / name,
            registry_prefix="" if name == DEFAULT_PROJECT else f"{name}.",
            serving_port=free_port(taken),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any], workspace: Path) -> Project:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["workspace"] = workspace
        for key in ("artifacts_dir", "dvc_remote"):
            values[key] = Path(values[key])
        return cls(**values)

    def save(self) -> Path:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + f".{os.getpid()}.partial")
        partial.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        os.replace(partial, path)
        return path

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, Path):
                data[key] = str(value)
        return data

    # ------------------------------------------------------------------ derived

    @property
    def path(self) -> Path:
        return project_file(self.workspace, self.name)

    @property
    def registry_uri(self) -> str:
        """Where Registration steps and `cursus models` look: the MLflow store when MLflow is
        installed, the workspace's folder registry otherwise."""
        return default_registry_uri(self.workspace, self.tracking_uri)

    @property
    def local_registry(self) -> Path:
        return self.workspace / "registry"

    def model_name(self, model: str) -> str:
        """The registered name of `model` in this project (`<project>.<model>`; bare in `default`)."""
        if self.registry_prefix and not model.startswith(self.registry_prefix):
            return self.registry_prefix + model
        return model


def project_file(workspace: Path, name: str) -> Path:
    return workspace / "projects" / f"{name}.json"


def check_project_name(name: str) -> None:
    """A project name is a plain name (`cursus.names`) without '.', which separates the
    project's prefix from a model's name, of at most 64 characters."""
    try:
        plain_name(name, "project name")
    except NameError_ as exc:
        raise MLOpsError(str(exc)) from None
    if not PROJECT_NAME.fullmatch(name):
        raise MLOpsError(
            f"project name {name!r} is not usable; use letters, digits, '_' and '-' "
            "(at most 64 characters, starting with a letter or digit; no '.')"
        )


def list_projects(workspace: str | Path | None = None) -> list[Project]:
    """The projects set up in `workspace`, by name."""
    root = resolve_workspace(workspace)
    folder = root / "projects"
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            found.append(Project.from_dict(json.loads(path.read_text()), root))
        except (OSError, ValueError, TypeError, KeyError):
            continue  # a half-written or foreign file is not a project
    return found
