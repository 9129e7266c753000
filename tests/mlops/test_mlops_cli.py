"""`cursus models ...`, `cursus mlops ...` and the tracking options of `cursus run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from _mlops_support import TrackedE2E, make_package
from click.testing import CliRunner
from mlflow import MlflowClient

from cursus.cli.main import cli
from cursus.mlops.registry import resolve_packaged_model

CURSUS = str(Path(sys.executable).with_name("cursus"))


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, new_store: Callable[[Path], str]) -> Path:
    """A workspace whose MLflow registry holds churn v1 and v2, registered with the CLI."""
    ws = tmp_path_factory.mktemp("ws")
    new_store(ws)
    root = tmp_path_factory.mktemp("pkg")
    for version, auc in ((1, 0.81), (2, 0.93)):
        package = make_package(root / str(version), val_auc=auc)
        out = invoke("models", "register", str(package), "--name", "churn", "--workspace", str(ws))
        assert out == f"registered churn version {version} (alias candidate)\n"
    return ws


def test_models_list_show_and_promote(workspace: Path) -> None:
    ws = ["--workspace", str(workspace)]
    lines = invoke("models", "list", *ws).splitlines()
    assert lines[0].split() == ["NAME", "LATEST", "VERSIONS", "ALIASES"]
    assert lines[1].split() == ["churn", "2", "2", "candidate=2"]

    shown = invoke("models", "show", "churn", "--version", "1", *ws)
    assert shown.startswith("churn version 1\n  aliases:  -\n")
    assert "val_auc=0.81" in shown
    assert json.loads(invoke("models", "show", "churn", "--json", *ws))["version"] == 2

    assert invoke("models", "promote", "churn", "1", *ws) == "churn@production -> version 1\n"
    assert invoke("models", "promote", "churn", "2", "--alias", "production", *ws) == (
        "churn@production -> version 2 (was 1)\n"
    )
    rows = json.loads(invoke("models", "list", "--json", *ws))
    assert rows[0]["aliases"] == {"candidate": 2, "production": 2}
    assert "aliases:  candidate, production" in invoke("models", "show", "churn", *ws)


def test_models_errors_are_short(workspace: Path) -> None:
    result = CliRunner().invoke(
        cli, ["models", "promote", "churn", "9", "--workspace", str(workspace)]
    )
    assert result.exit_code == 2
    assert "has no version 9" in result.output
    result = CliRunner().invoke(cli, ["models", "show", "nope", "--workspace", str(workspace)])
    assert result.exit_code == 2 and "no model 'nope'" in result.output


def test_models_on_a_folder_registry(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    package = make_package(tmp_path / "pkg")
    invoke("models", "register", str(package), "--name", "m", "--registry-uri", str(registry),
           "--workspace", str(tmp_path / "ws"))  # fmt: skip
    assert "m" in invoke("models", "list", "--registry-uri", registry.as_uri())
    invoke("models", "promote", "m", "1", "--registry-uri", str(registry))
    assert json.loads((registry / "m" / "aliases.json").read_text()) == {
        "candidate": 1,
        "production": 1,
    }


def test_setup_and_status(workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no DVC repository here
    ws = ["--workspace", str(workspace)]
    project = json.loads(invoke("mlops", "setup", "--project", "fraud", "--json", *ws))
    assert project["name"] == "fraud" and project["registry_prefix"] == "fraud."
    assert Path(project["dvc_remote"]).is_dir()
    status = json.loads(invoke("mlops", "status", "--project", "fraud", "--json", *ws))
    services = status["services"]
    assert services["tracking"]["state"] == "ready"
    assert services["server"]["state"] == "down"
    assert services["registry"]["models"] == 1
    assert services["data"]["state"] == "no repo"
    assert services["serving"]["state"] == "none"
    text = invoke("mlops", "status", "--project", "fraud", *ws)
    assert text.splitlines()[0] == f"project fraud in {workspace}"
    assert [line.split()[0] for line in text.splitlines()[1:]] == [
        "tracking", "server", "registry", "data", "serving"
    ]  # fmt: skip
    # project names get their prefix on registration
    out = invoke("models", "register", str(make_package(tmp_path / "p")), "--name", "xgb",
                 "--project", "fraud", *ws)  # fmt: skip
    assert out.startswith("registered fraud.xgb version 1")


@pytest.mark.slow
def test_the_mlflow_server_starts_serves_the_registry_and_stops(
    workspace: Path, tmp_path: Path
) -> None:
    """A real `mlflow server` on a free loopback port: health, the registry over HTTP (register
    and download), status, stop. Takes ~7 s to come up."""
    from cursus.mlops.server import healthy, server_status

    ws = ["--workspace", str(workspace)]
    out = invoke("mlops", "start", *ws)
    state = server_status(workspace)
    try:
        assert out.startswith(f"MLflow server started at {state['url']} (pid {state['pid']}")
        assert state["healthy"] and state["url"].startswith("http://127.0.0.1:")
        assert "already running" in invoke("mlops", "start", *ws)
        status = json.loads(invoke("mlops", "status", "--json", *ws))["services"]["server"]
        assert status["state"] == "up" and status["url"] == state["url"]

        http = MlflowClient(state["url"])
        assert "churn" in [m.name for m in http.search_registered_models()]
        # DNS rebinding: a page's request under another name is refused, loopback ones answered
        port = state["url"].rsplit(":", 1)[1]
        search = f"{state['url']}/api/2.0/mlflow/experiments/search?max_results=1"
        for host, status in (
            ("attacker.example", 403),
            ("192.168.1.5", 403),
            (f"127.0.0.1.nip.io:{port}", 403),
            (f"localhost:{port}", 200),
            (f"127.0.0.1:{port}", 200),
        ):
            request = urllib.request.Request(search, headers={"Host": host})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    answered = response.status
            except urllib.error.HTTPError as error:
                answered = error.code
            assert answered == status, host
        package = make_package(tmp_path / "pkg", val_auc=0.99)
        # a new project's experiment is created through the server: its artifacts are proxied
        out = invoke("models", "register", str(package), "--name", "m", "--project", "remote",
                     "--registry-uri", state["url"], *ws)  # fmt: skip
        assert out.startswith("registered remote.m version 1")
        remote = http.get_experiment_by_name("remote")
        assert remote.artifact_location.startswith("mlflow-artifacts:")
        fetched = resolve_packaged_model("remote.m@candidate", workspace, state["url"])
        assert fetched == workspace / "registry-cache" / "remote.m" / "1" / "model.tar.gz"
        assert fetched.read_bytes() == package.read_bytes()
    finally:
        stopped = invoke("mlops", "stop", *ws)
    assert stopped == "MLflow server stopped\n"
    assert not healthy(state["url"])
    assert not server_status(workspace)["running"]
    with pytest.raises(ProcessLookupError):
        os.killpg(state["pid"], 0)
    assert invoke("mlops", "stop", *ws) == "no MLflow server was running\n"


def test_a_server_that_does_not_answer_in_time_is_stopped_and_reported(tmp_path: Path) -> None:
    from cursus.mlops.project import MLOpsError
    from cursus.mlops.server import server_status, start_server

    with pytest.raises(
        MLOpsError, match=r"did not answer http://127\.0\.0\.1:\d+/health within 0\.5 s"
    ):
        start_server(tmp_path / "ws", timeout=0.5)
    assert not (tmp_path / "ws" / "mlflow-server.json").exists()
    assert not server_status(tmp_path / "ws")["running"]


@pytest.mark.slow
def test_cursus_run_tracks_in_the_background_and_no_tracking_does_not(
    tracked_e2e: TrackedE2E,
) -> None:
    def run(*extra: str) -> str:
        done = subprocess.run(
            [CURSUS, "run", "xgboost_e2e", "-c", str(tracked_e2e.config), "--json",
             "--workspace", str(tracked_e2e.workspace), *extra],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return json.loads(done.stdout)["run_id"]

    untracked = run("--no-tracking")
    tracked = run()
    client = MlflowClient(tracked_e2e.uri)
    experiment = client.get_experiment_by_name("xgboost-e2e").experiment_id
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = client.search_runs([experiment], f"attributes.run_name = '{tracked}'")
        if found and found[0].info.status == "FINISHED":
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"the tracking writer did not finish: {tracked_e2e.workspace / 'tracking.log'}")
    assert found[0].data.tags["pipeline_name"] == "xgboost-e2e"
    assert client.search_runs([experiment], f"attributes.run_name = '{untracked}'") == []


# ---------------------------------------------------------------------- the design's verbs


def test_mlops_register_registers_a_project(tmp_path: Path) -> None:
    ws = ["--workspace", str(tmp_path / "ws")]
    out = invoke("mlops", "register", "lora-finetuning-mlx", *ws)
    assert out.splitlines()[0] == "project lora-finetuning-mlx registered"
    assert "(models named lora-finetuning-mlx.<model>)" in out
    again = json.loads(invoke("mlops", "register", "lora-finetuning-mlx", "--json", *ws))
    assert again["created"] is False and again["registry_prefix"] == "lora-finetuning-mlx."
    package = make_package(tmp_path / "pkg")
    refused = CliRunner().invoke(cli, ["mlops", "register", str(package), *ws])
    assert refused.exit_code == 2
    assert f"`cursus models register {package} --name NAME`" in refused.output
    bad = CliRunner().invoke(cli, ["mlops", "register", "no/slashes", *ws])
    assert bad.exit_code != 0 and "project name 'no/slashes' is not a plain name" in bad.output


def test_the_design_verbs_version_data_and_serve_a_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_store: Callable[[Path], str]
) -> None:
    """dvc-add, dvc-push, dvc-pull, deploy MODEL VERSION and list-deployments, as a user types
    them, on a real DVC repository and a real server on loopback."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from cursus.mlops.models import package_model

    monkeypatch.chdir(tmp_path)
    ws = ["--workspace", str(tmp_path / "ws"), "--project", "lora"]
    new_store(tmp_path / "ws")
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    package = package_model(model, tmp_path / "pkg")
    assert invoke("models", "register", str(package), "--name", "adapter", *ws).startswith(
        "registered lora.adapter version 1"
    )
    data = tmp_path / "datasets" / "train.jsonl"
    data.parent.mkdir()
    data.write_text('{"text": "hello"}\n')
    assert "datasets/train.jsonl" in invoke("mlops", "dvc-add", "datasets/train.jsonl", *ws)
    assert "1" in invoke("mlops", "dvc-push", *ws)
    data.unlink()
    import shutil

    shutil.rmtree(tmp_path / ".dvc" / "cache")
    pulled = invoke("mlops", "dvc-pull", *ws)
    assert "datasets/train.jsonl" in pulled and data.read_text() == '{"text": "hello"}\n'

    try:
        deployed = json.loads(invoke("mlops", "deploy", "adapter", "v1", "--json", *ws))
        assert deployed["model_ref"] == "adapter:1" and deployed["name"] == "adapter"
        listed = invoke("mlops", "list-deployments", *ws)
        assert listed.split()[:4] == ["adapter", "fastapi", "x1", "healthy"]
        request = urllib.request.Request(
            deployed["url"] + "/invocations",
            data=X.head(2).to_csv(header=False, index=False).encode(),
            headers={"Content-Type": "text/csv", "Accept": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())["predictions"]
        assert [row["class"] for row in answer] == [str(c) for c in model.predict(X.head(2))]
        missing = CliRunner().invoke(cli, ["mlops", "deploy", "adapter", "v7", *ws])
        assert missing.exit_code == 2 and "version 7" in missing.output
    finally:
        invoke("deployments", "stop", "--all", *ws)
    assert invoke("mlops", "list-deployments", *ws) == "no deployments\n"


def test_mlops_dashboard_serves_the_workspace(workspace: Path) -> None:
    from cursus.mlops.project import free_port

    port = free_port()
    command = [CURSUS, "mlops", "dashboard", "--workspace", str(workspace), "--port", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/models", timeout=5) as r:
                    page = r.read().decode()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "dashboard is down"
                time.sleep(0.2)
        assert "churn" in page
    finally:
        proc.terminate()
        proc.wait(10)


def test_models_show_lists_the_holdout_evaluation_and_its_data(tracked_e2e: TrackedE2E) -> None:
    """A pipeline's model version says what it scored on held-out data, and on which data."""
    ws = ["--workspace", str(tracked_e2e.workspace)]
    shown = json.loads(invoke("models", "show", "xgboost-e2e", "--json", *ws))
    evaluation = shown["metrics"]["evaluation"]
    assert 0.5 < evaluation["roc_auc"] <= 1 and evaluation["n_samples"] == 171
    assert shown["lineage"]["evaluated_on"] == {
        "split": "calibration", "job_type": "calibration", "rows": 171, "label_field": "label",
        "problem_type": "binary", "class_counts": {"0": 55, "1": 116},
    }  # fmt: skip
    lines = invoke("models", "show", "xgboost-e2e", *ws).splitlines()
    holdout = next(i for i, line in enumerate(lines) if line.startswith("  holdout:"))
    assert lines[holdout + 1] == "  measured on: calibration split, 171 rows (0: 55, 1: 116)"
    assert f"roc_auc={evaluation['roc_auc']:.4g}" in lines[holdout]
    assert holdout < next(i for i, line in enumerate(lines) if line.startswith("  training:"))
