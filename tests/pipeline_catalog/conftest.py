"""Fixtures for the catalog tests: a template registry per test in a temp folder, sample configs
written the way `cursus catalog config` writes them, and one workspace for every local run."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

# before any run: the local runner's fork server keeps the environment it started with
os.environ["OMP_NUM_THREADS"] = "1"

import pytest

from cursus.pipeline_catalog import write_sample_config

# a model location SageMaker accepts, for compiling the deployment pipeline offline
S3_MODEL = "s3://replace-with-your-bucket/models/xgboost/model.tar.gz"


@pytest.fixture(scope="session")
def catalog_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One local-runner workspace for every catalog run, so steps run once and then cache."""
    return tmp_path_factory.mktemp("catalog-workspace")


@pytest.fixture(autouse=True)
def registry_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """MODS compiles register templates: never in the user's workspace."""
    path = tmp_path / "registry" / "templates.db"
    monkeypatch.setenv("CURSUS_TEMPLATE_REGISTRY", str(path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("CURSUS_MODEL_URI", raising=False)
    return path


@pytest.fixture
def sample_config(tmp_path: Path) -> Callable[..., Path]:
    def write(pipeline_id: str, model_uri: str | None = S3_MODEL, **overrides: object) -> Path:
        return write_sample_config(
            pipeline_id, tmp_path / f"{pipeline_id}.json", model_uri, **overrides
        )

    return write
