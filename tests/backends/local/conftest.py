"""Fixtures for the local runner tests: one real e2e run that the cache, resume and corruption tests
copy instead of re-running."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The fork server starts on the first step and keeps the environment it started with, so this must
# be set before any run, not per test.
os.environ["OMP_NUM_THREADS"] = "1"
sys.path.insert(0, str(Path(__file__).parent))

import pytest
from _runner_support import SMALL_SOURCE, SeedRun, compile_plan, write_config

from cursus.backends.local import LocalRunner


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def registry_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One model registry outside every workspace, as a real one is, so that a copied workspace's
    Registration step keeps its cache key."""
    return str(tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="session")
def seed_run(tmp_path_factory: pytest.TempPathFactory, registry_uri: str) -> SeedRun:
    """The bundled xgboost_e2e pipeline on breast_cancer, run once with two workers."""
    root = tmp_path_factory.mktemp("seed")
    config = write_config(
        root / "config.json",
        "xgboost_e2e",
        DataLoading_training={"data_source": SMALL_SOURCE},
        DataLoading_calibration={"data_source": SMALL_SOURCE},
    )
    plan = compile_plan("xgboost_e2e", config)
    workspace = root / "ws"
    result = LocalRunner(plan, workspace=workspace, workers=2, registry_uri=registry_uri).run()
    assert result.ok, {n: s.error for n, s in result.steps.items() if not s.ok}
    return SeedRun(config, plan, workspace, registry_uri, result)
