"""Fixtures for the MLOps tests: real MLflow SQLite stores in temp folders, one real tracked run of
the bundled xgboost_e2e pipeline (and its cached re-run) that several tests read."""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

# before any run: the fork server keeps the environment it started with
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ.pop("MLFLOW_TRACKING_URI", None)
sys.path.insert(0, str(Path(__file__).parent))

import pytest
from _mlops_support import TrackedE2E

from cursus.api.loading import load_dag
from cursus.core.config_file import default_configs, save_configs
from cursus.mlops.tracking import MLflowTracking
from cursus.targets import run_pipeline


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("CURSUS_WORKSPACE", raising=False)


@pytest.fixture(scope="session")
def _empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite store with its tables created (creating them takes seconds)."""
    from cursus.mlops.tracking import mlflow_client

    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    mlflow_client(f"sqlite:///{db}")
    return db


@pytest.fixture(scope="session")
def new_store(_empty_store: Path) -> Callable[[Path], str]:
    """new_store(folder) -> the sqlite:/// URI of a fresh, empty store at folder/mlflow.db."""

    def make(folder: Path) -> str:
        folder.mkdir(parents=True, exist_ok=True)
        # the backup API, not a file copy: a WAL store keeps recent writes in mlflow.db-wal
        with sqlite3.connect(_empty_store) as source, sqlite3.connect(folder / "mlflow.db") as copy:
            source.backup(copy)
        return f"sqlite:///{folder / 'mlflow.db'}"

    return make


@pytest.fixture(scope="session")
def tracked_e2e(tmp_path_factory: pytest.TempPathFactory) -> TrackedE2E:
    """xgboost_e2e run once with tracking (its models go to the workspace's MLflow registry, the
    default), then again from cache."""
    from cursus.core.compiler import PipelineDAGCompiler

    root = tmp_path_factory.mktemp("e2e")
    config = save_configs(
        default_configs(load_dag("xgboost_e2e"), pipeline_name="xgboost-e2e", author="ada"),
        root / "config.json",
    )
    workspace = root / "ws"
    hooks = [MLflowTracking(workspace=workspace), MLflowTracking(workspace=workspace)]
    first = run_pipeline(
        "xgboost_e2e", config, workspace=workspace, hooks=hooks[:1], tracking=False
    )
    assert first.ok, {n: s.error for n, s in first.steps.items() if not s.ok}
    cached = run_pipeline(
        "xgboost_e2e", config, workspace=workspace, hooks=hooks[1:], tracking=False
    )
    assert cached.ok
    plan = PipelineDAGCompiler(config).compile_to_plan(load_dag("xgboost_e2e"))
    return TrackedE2E(
        config=config,
        workspace=workspace,
        uri=f"sqlite:///{workspace / 'mlflow.db'}",
        plan=plan,
        first=first,
        cached=cached,
        mlflow_ids={**hooks[0].mlflow_run_ids, **hooks[1].mlflow_run_ids},
        errors=hooks[0].errors + hooks[1].errors,
    )
