"""Where a run keeps its state: one workspace folder, found one way (standard library only, so
every layer can ask)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

WORKSPACE_ENV = "CURSUS_WORKSPACE"
DEFAULT_WORKSPACE = ".cursus"


def resolve_workspace(workspace: str | Path | None = None) -> Path:
    """`workspace`, else $CURSUS_WORKSPACE, else ./.cursus; `~` expanded, made absolute."""
    chosen = (
        workspace if workspace is not None else os.environ.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE
    )
    return Path(chosen).expanduser().resolve()


def default_tracking_uri(workspace: str | Path | None = None) -> str:
    """The embedded MLflow store: an SQLite file in the workspace."""
    return f"sqlite:///{resolve_workspace(workspace) / 'mlflow.db'}"


def mlflow_available() -> bool:
    return importlib.util.find_spec("mlflow") is not None


def default_registry_uri(
    workspace: str | Path | None = None, tracking_uri: str | None = None
) -> str:
    """The MLflow store (`tracking_uri`, else the workspace's SQLite file) when MLflow is
    installed; the folder registry `<workspace>/registry` otherwise."""
    root = resolve_workspace(workspace)
    if mlflow_available():
        return tracking_uri or default_tracking_uri(root)
    return str(root / "registry")
