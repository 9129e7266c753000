"""MLOpsClient: a project's tracking, registry, data versioning and serving from Python."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from _mlops_support import TrackedE2E, make_package

from cursus.mlops.client import MLOpsClient, hardware_snapshot


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, new_store: Callable[[Path], str]
) -> MLOpsClient:
    workspace = tmp_path_factory.mktemp("ws")
    new_store(workspace)
    return MLOpsClient.from_project("fraud", workspace)


def test_runs_params_metrics_and_hardware(client: MLOpsClient) -> None:
    with client.start_run("tuning", tags={"team": "risk"}) as run:
        client.log_params(run.run_id, {"model": {"eta": 0.1, "depth": 4}, "data": "v3"})
        client.log_metrics(run.run_id, {"auc": 0.97, "loss": 0.2})
        client.log_metrics(run.run_id, {"auc": 0.98}, step=1)
        hardware = client.log_hardware_metrics(run.run_id)
        child = client.start_run("fold-1", parent_run_id=run.run_id)
        child.end()
    stored = client.mlflow.get_run(run.run_id)
    assert stored.info.status == "FINISHED"
    assert client.mlflow.get_experiment(stored.info.experiment_id).name == "fraud"
    assert stored.data.tags["project"] == "fraud" and stored.data.tags["team"] == "risk"
    assert stored.data.params == {"model.eta": "0.1", "model.depth": "4", "data": "v3"}
    assert stored.data.metrics["auc"] == 0.98
    assert [m.value for m in client.mlflow.get_metric_history(run.run_id, "auc")] == [0.97, 0.98]
    assert hardware["peak_rss_mb"] > 30 and hardware["cpu_user_seconds"] > 0
    assert stored.data.metrics["hardware.peak_rss_mb"] == hardware["peak_rss_mb"]
    nested = client.mlflow.get_run(child.run_id)
    assert nested.data.tags["mlflow.parentRunId"] == run.run_id


def test_a_failing_block_marks_the_run_failed(client: MLOpsClient) -> None:
    with pytest.raises(RuntimeError), client.start_run("broken") as run:
        raise RuntimeError("boom")
    assert client.mlflow.get_run(run.run_id).info.status == "FAILED"


def test_log_model_registers_under_the_project_prefix(client: MLOpsClient, tmp_path: Path) -> None:
    package = make_package(tmp_path / "pkg", val_auc=0.91)
    with client.start_run("train") as run:
        record = client.log_model(package.parent, "xgb", run_id=run.run_id)
    assert (record["name"], record["version"], record["aliases"]) == ("fraud.xgb", 1, ["candidate"])
    version = client.mlflow.get_model_version("fraud.xgb", "1")
    assert version.run_id == run.run_id
    assert version.tags["metric.training.val_auc"] == "0.91"
    assert version.tags["lineage.project"] == "fraud"


def test_hardware_snapshot_is_plausible() -> None:
    values = hardware_snapshot()
    assert 0 < values["rss_mb"] <= values["peak_rss_mb"] * 1.5
    assert 0 <= values["cpu_utilization"] <= values["cpu_count"] * 1.5
    assert 0 < values["system_memory_percent"] <= 100


def test_dvc_add_and_push_go_to_the_project_remote(
    client: MLOpsClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.csv").write_text("a,b\n1,2\n")
    monkeypatch.chdir(repo)
    added = client.dvc_add("train.csv")
    assert Path(added["dvc_file"]) == repo / "train.csv.dvc"
    pushed = client.dvc_push()
    assert pushed["pushed"] == 1
    assert Path(pushed["url"]) == client.project.dvc_remote
    assert any(p.is_file() for p in client.project.dvc_remote.rglob("*"))


@pytest.mark.slow
def test_deploy_a_registered_model_and_list_it(tracked_e2e: TrackedE2E) -> None:
    from cursus.mlops import serving

    client = MLOpsClient.from_project("default", tracked_e2e.workspace)
    deployment = client.deploy_model("xgboost-e2e@candidate")
    try:
        listed = client.list_deployments()
        assert [d["name"] for d in listed] == [deployment["name"]]
        assert listed[0]["health"] == "healthy"
        url = f"http://127.0.0.1:{deployment['port']}/ping"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.status == 200
            assert json.loads(response.read())
    finally:
        serving.stop_deployment(client.project, deployment["name"])
    assert client.list_deployments() == []
