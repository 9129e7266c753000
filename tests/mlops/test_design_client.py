"""The MLOps design document's client example, run as written, and the models it logs."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cursus.mlops.client import (
    MLOpsClient,
    apple_silicon_snapshot,
    parse_pmset_therm,
    parse_powermetrics,
)
from cursus.mlops.invoke import ModelServer
from cursus.mlops.project import MLOpsError, Project
from cursus.mlops.registry import resolve_packaged_model
from cursus.mlops.serving import stop_all, unpacked, versioned_ref

PROJECT = "lora-finetuning-mlx"


@pytest.fixture
def user_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_store: Callable[[Path], str]
) -> Iterator[Path]:
    """A project folder as the working directory: its workspace is ./.cursus (the default), with
    an empty MLflow store, and a dataset to version. Deployments are stopped afterwards."""
    monkeypatch.chdir(tmp_path)
    new_store(tmp_path / ".cursus")
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "train.jsonl").write_text('{"text": "hello"}\n{"text": "world"}\n')
    yield tmp_path
    stop_all(Project.load(PROJECT, tmp_path / ".cursus"))


def adapter() -> Any:
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url + "/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_design_example_runs_as_written(user_folder: Path) -> None:
    import torch

    model = adapter()

    from cursus.mlops.client import MLOpsClient

    client = MLOpsClient.from_project("lora-finetuning-mlx")
    with client.start_run(run_name="experiment-001"):
        client.log_params({"lr": 0.0001, "epochs": 10})
        client.log_metrics({"loss": 0.42, "accuracy": 0.95})
        client.log_apple_silicon_metrics({"mps_util": 87.5})
        client.log_model(model, "lora-adapter")
    client.dvc_add("datasets/train.jsonl")
    client.dvc_push()
    client.deploy_model("lora-adapter", version="v1.0")

    runs = client.mlflow.search_runs([client.experiment_id])
    assert [r.info.run_name for r in runs] == ["experiment-001"]
    run = runs[0]
    assert run.info.status == "FINISHED" and client.active_run is None
    assert run.data.params == {"lr": "0.0001", "epochs": "10"}
    assert run.data.metrics["loss"] == 0.42 and run.data.metrics["accuracy"] == 0.95
    assert run.data.metrics["apple_silicon.mps_util"] == 87.5
    assert run.data.metrics["hardware.peak_rss_mb"] > 30
    version = client.mlflow.get_model_version(f"{PROJECT}.lora-adapter", "1")
    assert version.run_id == run.info.run_id
    assert version.tags["lineage.framework"] == "pytorch"

    assert (user_folder / "datasets" / "train.jsonl.dvc").is_file()
    remote = client.project.dvc_remote
    assert any(p.is_file() for p in remote.rglob("*")), "dvc_push put the data in the remote"

    (deployment,) = client.list_deployments()
    assert deployment["name"] == "lora-adapter" and deployment["health"] == "healthy"
    assert deployment["model_ref"] == "lora-adapter:1"
    rows = [[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0]]
    status, answer = post(deployment["url"], {"instances": rows})
    assert status == 200
    with torch.no_grad():
        expected = torch.sigmoid(model(torch.tensor(rows))).reshape(-1).tolist()
    assert [p["prob"] for p in answer["predictions"]] == pytest.approx(expected, abs=1e-6)
    status, answer = post(deployment["url"], {"instances": [[1.0, 2.0]]})
    assert status == 422 and "4 features" in answer["error"]


def models() -> dict[str, tuple[Any, np.ndarray]]:
    """One fitted model per framework and problem type, with rows to score."""
    import lightgbm as lgb
    import pandas as pd
    import torch
    import xgboost as xgb
    from sklearn.datasets import load_breast_cancer, load_iris
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LogisticRegression

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    Xi, yi = load_iris(return_X_y=True, as_frame=True)
    torch.manual_seed(0)
    return {
        "sklearn-binary": (LogisticRegression(max_iter=5000).fit(X, y), X.to_numpy()[:5]),
        "sklearn-multiclass": (LogisticRegression(max_iter=500).fit(Xi, yi), Xi.to_numpy()[:5]),
        "sklearn-regression": (
            RandomForestRegressor(n_estimators=5, random_state=0).fit(Xi.to_numpy(), yi),
            Xi.to_numpy()[::30],
        ),
        "xgboost-binary": (xgb.XGBClassifier(n_estimators=5).fit(X, y), X.to_numpy()[:5]),
        "xgboost-multiclass": (xgb.XGBClassifier(n_estimators=5).fit(Xi, yi), Xi.to_numpy()[:5]),
        "xgboost-booster-regression": (
            xgb.train({"objective": "reg:squarederror"}, xgb.DMatrix(Xi, yi), 5),
            Xi.to_numpy()[::30],
        ),
        "lightgbm-binary": (
            lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y),
            X.to_numpy()[:5],
        ),
        "lightgbm-multiclass": (
            lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(pd.DataFrame(Xi), yi),
            Xi.to_numpy()[::30],
        ),
        "pytorch-multiclass": (torch.nn.Linear(4, 3), Xi.to_numpy()[:5]),
    }


@pytest.fixture(scope="module")
def registry_client(
    tmp_path_factory: pytest.TempPathFactory, new_store: Callable[[Path], str]
) -> MLOpsClient:
    workspace = tmp_path_factory.mktemp("ws")
    new_store(workspace)
    return MLOpsClient.from_project("zoo", workspace)


@pytest.mark.parametrize("kind", list(models()))
def test_log_model_registers_each_framework_and_serves_what_it_predicts(
    registry_client: MLOpsClient, kind: str
) -> None:
    from cursus.mlops.models import Described, native_predictions

    model, rows = models()[kind]
    with registry_client.start_run(run_name=kind) as run:
        record = registry_client.log_model(model, kind)
    assert record["name"] == f"zoo.{kind}" and record["mlflow_run_id"] == run.run_id
    archive = resolve_packaged_model(
        f"zoo.{kind}:{record['version']}", registry_client.project.workspace
    )
    with unpacked(archive) as model_dir:
        meta = json.loads((model_dir / "model_meta.json").read_text())
        server = ModelServer(model_dir)
        text, _, n = server.invoke(
            json.dumps({"instances": rows.tolist()}).encode(), "application/json", None
        )
    problem = kind.rsplit("-", 1)[1]
    assert meta["problem_type"] == problem and n == len(rows)
    described = Described(meta["framework"], problem, meta["features"], meta=meta)
    expected = native_predictions(model, rows.astype(np.float32), described)
    answers = json.loads(text)["predictions"]
    if problem == "binary":
        served = [a["prob"] for a in answers]
    elif problem == "multiclass":
        served = [[a[f"prob_{k}"] for k in range(expected.shape[1])] for a in answers]
    else:
        served = [a["prediction"] for a in answers]
    assert np.allclose(served, expected, atol=1e-5)


def test_log_model_refuses_what_it_cannot_serve(registry_client: MLOpsClient) -> None:
    import torch
    import xgboost as xgb
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    Xi, yi = load_iris(return_X_y=True)
    cases = [
        (LogisticRegression(), "not fitted; fit it before log_model"),
        (object(), "cannot package a object"),
        (xgb.XGBClassifier(objective="multi:softmax", n_estimators=2).fit(Xi, yi), "softprob"),
    ]
    for model, message in cases:
        with pytest.raises(MLOpsError, match=message):
            registry_client.log_model(model, "refused")
    with pytest.raises(MLOpsError, match="features names 2 columns but the Linear takes 4"):
        registry_client.log_model(torch.nn.Linear(4, 1), "refused", features=["a", "b"])
    with pytest.raises(MLOpsError, match="the sklearn model is multiclass"):
        registry_client.log_model(
            LogisticRegression(max_iter=500).fit(Xi, yi), "refused", problem_type="binary"
        )
    names = registry_client.mlflow.search_registered_models()
    assert "zoo.refused" not in {m.name for m in names}, "nothing refused was registered"


def test_logging_needs_a_run(registry_client: MLOpsClient) -> None:
    with pytest.raises(MLOpsError, match=r"no run is active; call it inside `with client"):
        registry_client.log_metrics({"loss": 1.0})
    with registry_client.start_run(run_name="outer") as outer:
        inner = registry_client.start_run(run_name="inner")
        assert registry_client.active_run is inner
        registry_client.log_metrics({"loss": 0.5})
        inner.end()
        registry_client.log_metrics(outer.run_id, {"loss": 0.25}, step=1)
        with pytest.raises(MLOpsError, match="'loss' is 'high', not a number"):
            registry_client.log_metrics({"loss": "high"})
    assert registry_client.mlflow.get_run(inner.run_id).data.tags["mlflow.parentRunId"] == (
        outer.run_id
    )
    assert registry_client.mlflow.get_run(inner.run_id).data.metrics == {"loss": 0.5}
    assert registry_client.mlflow.get_run(outer.run_id).data.metrics == {"loss": 0.25}
    with pytest.raises(MLOpsError, match="give one"):
        registry_client.start_run("a", run_name="b")


@pytest.mark.parametrize(
    ("version", "ref"),
    [(None, "m"), (3, "m:3"), ("3", "m:3"), ("v3", "m:3"), ("v3.0", "m:3"), ("V1.0.0", "m:1"),
     ("production", "m@production")],
)  # fmt: skip
def test_versions_the_design_writes(version: Any, ref: str) -> None:
    assert versioned_ref("m", version) == ref


@pytest.mark.parametrize("version", ["v1.2", "0", "1x", "-1"])
def test_versions_that_name_nothing_are_refused(version: str) -> None:
    with pytest.raises(MLOpsError, match="neither a version number"):
        versioned_ref("m", version)
    with pytest.raises(MLOpsError, match="already names a version"):
        versioned_ref("m:2", "3")


def test_apple_silicon_readings() -> None:
    therm = "Note: No thermal warning level has been recorded\nCPU_Scheduler_Limit \t= 100\n"
    therm += "CPU_Available_CPUs \t= 10\nCPU_Speed_Limit \t= 87\n"
    assert parse_pmset_therm(therm) == {
        "cpu_scheduler_limit_percent": 100.0,
        "cpu_available_cpus": 10.0,
        "cpu_speed_limit_percent": 87.0,
    }
    power = "CPU Power: 912 mW\nGPU Power: 41 mW\nANE Power: 0 mW\nCombined Power: 953 mW\n"
    assert parse_powermetrics(power) == {
        "cpu_power_mw": 912.0,
        "gpu_power_mw": 41.0,
        "ane_power_mw": 0.0,
    }
    import platform
    import sys

    if not (sys.platform == "darwin" and platform.machine() == "arm64"):
        assert apple_silicon_snapshot() == {}


def test_log_metrics_is_fast(registry_client: MLOpsClient) -> None:
    """The design's bar is 100 ms per call; bench/bench_client.py measures the median."""
    with registry_client.start_run(run_name="latency"):
        registry_client.log_metrics({"warm": 1.0})
        started = time.perf_counter()
        for step in range(10):
            registry_client.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
    assert (time.perf_counter() - started) / 10 < 0.1
