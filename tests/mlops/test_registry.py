"""The model registry: Registration writes versions (MLflow's registry or a folder), and
`resolve_packaged_model` finds the archive again by path, name, name:version or name@alias."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from _mlops_support import TrackedE2E, make_package
from mlflow import MlflowClient

from cursus.mlops.project import MLOpsError
from cursus.mlops.registry import (
    FolderRegistryView,
    MLflowRegistryView,
    open_registry_view,
    parse_model_ref,
    register_packaged_model,
    resolve_packaged_model,
)
from cursus.steps.library import BUNDLED_LIBRARY as SCRIPTS_DIR

sys.path.insert(0, str(SCRIPTS_DIR))
import registration as step


def register(package: Path, out: Path, uri: str, name: str = "churn", **env: str) -> dict:
    environ = {"MODEL_NAME": name, "MODEL_REGISTRY_URI": uri, "PIPELINE_NAME": "demo",
               "PIPELINE_VERSION": "2.0", "CURSUS_RUN_ID": "run-9", **env}  # fmt: skip
    inputs = {"packaged_model": str(package.parent)}
    if (package.parent / "payload.tar.gz").exists():
        inputs["payload_sample"] = str(package.parent)
    step.main(inputs, {"registration_output": str(out)}, environ, {})
    return json.loads((out / "registration.json").read_text())


@pytest.fixture(scope="module")
def mlflow_store(
    tmp_path_factory: pytest.TempPathFactory, new_store: Callable[[Path], str]
) -> tuple[Path, str]:
    """One workspace whose MLflow store holds churn v1 (val_auc 0.8) and v2 (0.9)."""
    ws = tmp_path_factory.mktemp("ws")
    uri = new_store(ws)
    root = tmp_path_factory.mktemp("pkg")
    for version, auc in ((1, 0.8), (2, 0.9)):
        package = make_package(root / str(version), val_auc=auc, payload=version == 2)
        register(package, root / f"out{version}", uri)
    return ws, uri


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("churn", ("churn", None, None)),
        ("churn:3", ("churn", 3, None)),
        ("churn@production", ("churn", None, "production")),
        ("models:/fraud.xgb/2", ("fraud.xgb", 2, None)),
        ("models:/fraud.xgb@candidate", ("fraud.xgb", None, "candidate")),
    ],
)
def test_model_references(ref: str, parsed: tuple) -> None:
    assert parse_model_ref(ref) == parsed


def test_open_registry_picks_mlflow_for_sqlite_and_http_uris(tmp_path: Path) -> None:
    for uri in (f"sqlite:///{tmp_path}/m.db", "http://127.0.0.1:5000", "https://mlflow.example"):
        assert isinstance(step.open_registry(uri), step.MLflowModelRegistry)
        assert isinstance(step.open_registry(uri), step.ModelRegistry)
        assert isinstance(open_registry_view(uri), MLflowRegistryView)
    assert isinstance(open_registry_view(str(tmp_path)), FolderRegistryView)
    with pytest.raises(MLOpsError, match="not supported"):
        open_registry_view("s3://bucket/registry")


def test_mlflow_versions_carry_metrics_lineage_and_the_candidate_alias(
    mlflow_store: tuple[Path, str],
) -> None:
    _, uri = mlflow_store
    client = MlflowClient(uri)
    model = client.get_registered_model("churn")
    assert model.aliases == {"candidate": 2}
    v2 = client.get_model_version("churn", "2")
    assert v2.tags["metric.training.val_auc"] == "0.9"
    assert v2.tags["metric.calibration.brier_after"] == "0.05"
    assert "metric.calibration.method" not in v2.tags  # only numbers become metric tags
    assert v2.tags["lineage.pipeline_name"] == "demo"
    assert v2.tags["lineage.run_id"] == "run-9"
    assert len(v2.tags["lineage.model_sha256"]) == 64
    assert v2.description == "From demo 2.0, run run-9: val_auc=0.9, brier_after=0.05"
    run = client.get_run(v2.run_id)  # an untracked pipeline run: registration has its own run
    assert run.data.tags["registered_model"] == "churn:2"
    stored = Path(v2.source.removeprefix("file://"))  # the logged model's artifacts, on disk
    assert stored.is_relative_to(mlflow_store[0] / "mlartifacts" / "demo")
    files = {p.name for p in stored.iterdir()}
    assert files == {"model.tar.gz", "payload.tar.gz", "metrics.json", "lineage.json"}


def test_the_view_reads_versions_and_moves_aliases(mlflow_store: tuple[Path, str]) -> None:
    _, uri = mlflow_store
    view = open_registry_view(uri)
    assert view.model_names() == ["churn"]
    versions = view.versions("churn")
    assert [(v.version, v.aliases) for v in versions] == [(1, []), (2, ["candidate"])]
    assert versions[1].metrics["training"]["val_auc"] == 0.9
    assert versions[1].lineage["input_digests"] == {}
    view.set_alias("churn", "production", 1)
    assert view.get("churn", alias="production").version == 1
    view.set_alias("churn", "production", 2)
    assert view.aliases("churn") == {"candidate": 2, "production": 2}
    with pytest.raises(MLOpsError, match="no version 7"):
        view.set_alias("churn", "production", 7)
    with pytest.raises(MLOpsError, match="no model 'nope'"):
        view.get("nope")


def test_resolve_by_name_version_alias_and_path(
    mlflow_store: tuple[Path, str], tmp_path: Path
) -> None:
    ws, _ = mlflow_store
    latest = resolve_packaged_model("churn", ws)
    assert resolve_packaged_model("churn@candidate", ws) == latest
    first = resolve_packaged_model("churn:1", ws)
    assert first != latest and first.name == latest.name == "model.tar.gz"
    assert step.packaged_metrics(first)["training"]["val_auc"] == 0.8
    assert resolve_packaged_model(str(first), ws) == first
    assert resolve_packaged_model(str(first.parent), ws) == first
    with pytest.raises(MLOpsError, match="no alias 'gone'"):
        resolve_packaged_model("churn@gone", ws)
    with pytest.raises(MLOpsError, match=r"holds no model\.tar\.gz"):
        resolve_packaged_model(str(tmp_path), ws)


def test_folder_registry_has_versions_aliases_and_lookups(tmp_path: Path) -> None:
    registry = tmp_path / "ws" / "registry"
    for version in (1, 2):
        package = make_package(tmp_path / f"p{version}", val_auc=0.5 + version / 10)
        assert register(package, tmp_path / f"o{version}", str(registry))["version"] == version
    assert json.loads((registry / "churn" / "aliases.json").read_text()) == {"candidate": 2}
    view = open_registry_view(registry.as_uri())
    assert view.model_names() == ["churn"]
    assert view.get("churn", alias="candidate").version == 2
    view.set_alias("churn", "production", 1)
    # no MLflow store in this workspace: the folder registry is where names are looked up
    ws = tmp_path / "ws"
    assert (
        resolve_packaged_model("churn@production", ws) == registry / "churn" / "1" / "model.tar.gz"
    )
    assert resolve_packaged_model("churn", ws) == registry / "churn" / "2" / "model.tar.gz"
    with pytest.raises(MLOpsError, match="cannot resolve model 'other'"):
        resolve_packaged_model("other", ws)


def test_register_a_package_outside_a_pipeline(
    tmp_path: Path, new_store: Callable[[Path], str]
) -> None:
    package = make_package(tmp_path / "pkg", val_auc=0.7)
    uri = new_store(tmp_path)
    record = register_packaged_model(package.parent, "team.model", uri, experiment="team")
    assert (record["name"], record["version"], record["aliases"]) == (
        "team.model",
        1,
        ["candidate"],
    )
    assert record["metrics"]["training"]["val_auc"] == 0.7
    assert record["lineage"]["source"] == str(package)
    folder = register_packaged_model(package, "team.model", str(tmp_path / "reg"))
    assert folder["version"] == 1
    with pytest.raises(MLOpsError, match="neither"):
        register_packaged_model(tmp_path / "missing", "m", uri)


def test_the_e2e_registration_is_linked_to_its_tracked_run(tracked_e2e: TrackedE2E) -> None:
    client = MlflowClient(tracked_e2e.uri)
    version = client.get_model_version_by_alias("xgboost-e2e", "candidate")
    assert int(version.version) == 1
    parent_id = tracked_e2e.mlflow_ids[tracked_e2e.first.run_id]
    assert version.run_id == parent_id
    assert version.tags["mlflow_run_id"] == parent_id  # set by tracking, not by the cached re-run
    assert version.tags["lineage.run_id"] == tracked_e2e.first.run_id
    assert float(version.tags["metric.training.val_auc"]) == pytest.approx(
        tracked_e2e.first.steps["XGBoostTraining"].metrics["val_auc"]
    )
    archive = resolve_packaged_model("xgboost-e2e@candidate", tracked_e2e.workspace)
    assert archive.read_bytes() == tracked_e2e.package.read_bytes()


@pytest.mark.parametrize("kind", ["folder", "mlflow"])
def test_registering_an_identical_model_again_is_the_same_version(
    kind: str, tmp_path: Path, new_store: Callable[[Path], str]
) -> None:
    """Idempotent registration: the same archive (by digest) registered again, by another run,
    returns the version it already has; another archive is a new version."""
    uri = str(tmp_path / "registry") if kind == "folder" else new_store(tmp_path / "ws")
    package = make_package(tmp_path / "a", val_auc=0.8)
    first = register(package, tmp_path / "out1", uri)
    again = register(package, tmp_path / "out2", uri, CURSUS_RUN_ID="run-10")
    assert (first["version"], again["version"]) == (1, 1)
    assert again["reused"] is True and "reused" not in first
    other = register(make_package(tmp_path / "b", val_auc=0.9), tmp_path / "out3", uri)
    assert other["version"] == 2
    assert [v.version for v in open_registry_view(uri).versions("churn")] == [1, 2]


def test_the_registration_step_ran_in_a_process_started_early(tracked_e2e: TrackedE2E) -> None:
    """Its MLflow import (~1.7 s) overlapped the steps before it; no such process outlives the
    run, and the cached re-run (which computes nothing) started none."""
    import psutil

    log = Path(tracked_e2e.first.steps["Registration"].log_path or "").read_text()
    assert "Registration: in a process started early (MLflow imported" in log
    assert tracked_e2e.cached.steps["Registration"].status == "cached"
    assert not [p for p in psutil.Process().children(recursive=True) if "warm" in p.name()]


def test_prewarm_opens_the_registry_and_writes_nothing(
    tmp_path: Path, new_store: Callable[[Path], str]
) -> None:
    """What the early process calls: MLflow's stores opened and its first queries compiled,
    while the store's experiments, runs and models stay as they were."""
    uri = new_store(tmp_path)
    client = MlflowClient(uri)
    before = [e.name for e in client.search_experiments()]
    step.prewarm({"MODEL_REGISTRY_URI": uri, "MODEL_NAME": "churn"})
    assert [e.name for e in client.search_experiments()] == before
    assert client.search_registered_models() == []
    assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []
    step.prewarm({"MODEL_REGISTRY_URI": str(tmp_path / "folder")})  # a folder: nothing to open
    assert not (tmp_path / "folder").exists()
    step.prewarm({})
