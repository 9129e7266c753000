"""Workspaces for the dashboard tests.

`real_workspace`: two real runs of the bundled xgboost_e2e pipeline made with the CLI (the second
changes max_depth, so it takes its data steps from the cache and registers version 2), plus a
project whose experiment tracks them.

`seeded_workspace`: runs written through the RunRecords API: a failed run with a log, a run of a
pipeline named like a script tag, a DriftCheck step with a stored drift.json, a deployment record.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _dashboard_support import XSS, LiveServer, snapshot

from cursus.backends.local.records import RunRecords

CURSUS = [sys.executable, "-m", "cursus"]


def _tracked(root: Path, run_ids: list[str], timeout: float = 120.0) -> None:
    """Wait until MLflow holds each run as FINISHED: `cursus run` leaves its tracking writer
    running after it exits, and the tree is quiet while that writer still imports MLflow."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        experiment = client.get_experiment_by_name("xgboost-e2e")
        found = (
            client.search_runs([experiment.experiment_id], "tags.mlflow.parentRunId IS NULL")
            if experiment is not None
            else []
        )
        finished = {r.info.run_name for r in found if r.info.status == "FINISHED"}
        if finished >= set(run_ids):
            return
        time.sleep(0.5)
    pytest.fail(f"the tracking writer did not finish: see {root / 'tracking.log'}")


def _settle(root: Path, timeout: float = 120.0) -> None:
    """Wait until no writer holds a WAL open and the tree stops changing."""
    deadline = time.monotonic() + timeout
    previous = None
    while time.monotonic() < deadline:
        current = snapshot(root)
        wal = list(root.glob("*.db-wal"))
        if current == previous and not wal:
            return
        previous = current
        time.sleep(0.5)
    pytest.fail(f"{root} did not settle in {timeout:.0f} s (open: {[p.name for p in wal]})")


@pytest.fixture(scope="session")
def real_workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("dashboard-real")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    config = folder / "c.json"
    subprocess.run(
        [*CURSUS, "config", "init", "xgboost_e2e", "-o", str(config)],
        check=True,
        capture_output=True,
        env=env,
    )
    data = json.loads(config.read_text())
    data["configuration"]["specific"]["XGBoostTraining"]["hyperparameters"]["max_depth"] = 3
    config2 = folder / "c2.json"
    config2.write_text(json.dumps(data))
    ws = folder / "ws"
    for c in (config, config2):
        done = subprocess.run(
            [*CURSUS, "run", "xgboost_e2e", "-c", str(c), "--workspace", str(ws)],
            capture_output=True,
            text=True,
            env=env,
            cwd=folder,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    (ws / "projects").mkdir()
    project = {
        "name": "fraud",
        "experiment": "xgboost-e2e",
        "tracking_uri": f"sqlite:///{ws / 'mlflow.db'}",
        "artifacts_dir": str(ws / "mlartifacts"),
        "dvc_remote": str(ws / "dvc-remote" / "fraud"),
        "registry_prefix": "",
        "serving_port": 9,
        "created_at": "2026-01-01T00:00:00+00:00",
    }
    (ws / "projects" / "fraud.json").write_text(json.dumps(project))
    other = {**project, "name": "empty", "experiment": "nothing-here", "registry_prefix": "empty."}
    (ws / "projects" / "empty.json").write_text(json.dumps(other))
    ids = sorted(p.name for p in (ws / "runs").iterdir())
    _tracked(ws, ids)
    _settle(ws)
    return {"root": ws, "first": ids[0], "second": ids[1]}


@pytest.fixture(scope="session")
def seeded_workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    ws = tmp_path_factory.mktemp("dashboard-seeded") / "ws"
    records = RunRecords(ws / "runs.db")
    # a failed run with a log
    failed = "20260101-000000-f00001"
    log = ws / "runs" / failed / "logs" / "Train.log"
    log.parent.mkdir(parents=True)
    log.write_text(
        "".join(f"line {i}\n" for i in range(100)) + "ValueError: label column missing\n"
    )
    records.start_run(
        failed,
        {"pipeline_name": "demo", "pipeline_version": "1.0"},
        "0" * 64,
        str(ws / "runs" / failed / "plan.json"),
        [("Load", "DataLoading"), ("Train", "XGBoostTraining")],
    )
    records.update_step(failed, "Load", status="succeeded", started=1.0e9, ended=1.0e9 + 2)
    records.update_step(
        failed,
        "Train",
        status="failed",
        started=1.0e9 + 2,
        ended=1.0e9 + 3,
        error="exit code 1",
        log_path=str(log),
        attempts=1,
    )
    records.finish_run(failed, "failed", "Train: exit code 1")
    # a pipeline, step, metric and error named like markup
    xss = "20260101-000001-0bad00"
    records.start_run(
        xss,
        {"pipeline_name": XSS, "pipeline_version": XSS},
        "1" * 64,
        "/etc/passwd",
        [(XSS, "DriftCheck")],
    )
    drift = ws / "artifacts" / "objects" / ("d" * 64)
    drift.mkdir(parents=True)
    (drift / "drift.json").write_text(
        json.dumps(
            {
                "drift_detected": True,
                "drift_share": 0.5,
                "n_columns": 2,
                "n_drifted": 1,
                "drifted_columns": [XSS],
            }
        )
    )
    records.update_step(
        xss,
        XSS,
        status="failed",
        started=1.0e9 + 10,
        ended=1.0e9 + 11,
        outputs={"report": "d" * 64},
        metrics={XSS: 1.0},
        error=XSS,
        log_path="/etc/passwd",
    )
    records.finish_run(xss, "failed", XSS)
    records.close()  # its open connection would keep runs.db-wal there
    (ws / "deployments").mkdir()
    (ws / "deployments" / "model.json").write_text(
        json.dumps(
            {"name": XSS, "project": "default", "model_ref": XSS, "pid": 2**22 + 7, "port": 9}
        )
    )
    _settle(ws)
    return {"root": ws, "failed": failed, "xss": xss}


@pytest.fixture(scope="session")
def live_server(real_workspace: dict, seeded_workspace: dict) -> Iterator[LiveServer]:
    with LiveServer([real_workspace["root"], seeded_workspace["root"]]) as server:
        yield server
