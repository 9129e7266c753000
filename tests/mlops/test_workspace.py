"""Projects: one JSON file per project in the workspace, created at first use, stable afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cursus.mlops.project import MLOpsError, Project, list_projects
from cursus.workspace import default_registry_uri, default_tracking_uri


def test_first_load_creates_the_project_with_workspace_defaults(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    project = Project.load("fraud", ws)
    assert project.path == ws.resolve() / "projects" / "fraud.json"
    assert json.loads(project.path.read_text())["serving_port"] == project.serving_port
    assert project.experiment == "fraud"
    assert project.tracking_uri == f"sqlite:///{ws.resolve() / 'mlflow.db'}"
    assert project.artifacts_dir == ws.resolve() / "mlartifacts"
    assert project.dvc_remote == ws.resolve() / "dvc-remote" / "fraud"
    assert project.model_name("xgb") == "fraud.xgb"
    assert project.model_name("fraud.xgb") == "fraud.xgb"
    assert 1024 <= project.serving_port <= 65535


def test_reloading_gives_the_same_project_and_port(tmp_path: Path) -> None:
    first = Project.load("fraud", tmp_path)
    again = Project.load("fraud", tmp_path)
    assert again == first


def test_edits_to_the_file_are_kept(tmp_path: Path) -> None:
    project = Project.load("churn", tmp_path)
    data = json.loads(project.path.read_text())
    data["tracking_uri"] = "http://127.0.0.1:5000"
    data["someone_elses_field"] = 1
    project.path.write_text(json.dumps(data))
    assert Project.load("churn", tmp_path).tracking_uri == "http://127.0.0.1:5000"


def test_the_default_project_uses_bare_model_names(tmp_path: Path) -> None:
    project = Project.load(workspace=tmp_path)
    assert project.name == "default"
    assert project.model_name("xgboost-e2e") == "xgboost-e2e"


def test_list_projects_and_distinct_ports(tmp_path: Path) -> None:
    names = ["a", "b", "c"]
    for name in names:
        Project.load(name, tmp_path)
    (tmp_path / "projects" / "broken.json").write_text("{")
    projects = list_projects(tmp_path)
    assert [p.name for p in projects] == names
    assert len({p.serving_port for p in projects}) == 3
    assert list_projects(tmp_path / "empty") == []


def test_the_workspace_defaults_to_cursus_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CURSUS_WORKSPACE", str(tmp_path / "shared"))
    assert Project.load("x").workspace == (tmp_path / "shared").resolve()


@pytest.mark.parametrize("name", ["", "../up", "a/b", "-x", "x" * 65, "a.b"])
def test_unusable_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(MLOpsError, match="project name"):
        Project.load(name, tmp_path)
    assert not (tmp_path / "projects").exists()


def test_registry_defaults_to_the_mlflow_store_when_mlflow_is_installed(tmp_path: Path) -> None:
    assert default_registry_uri(tmp_path) == default_tracking_uri(tmp_path)
    assert Project.load("p", tmp_path).registry_uri == default_tracking_uri(tmp_path)


def test_without_mlflow_the_folder_registry_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cursus.workspace as workspace

    monkeypatch.setattr(workspace, "mlflow_available", lambda: False)
    assert default_registry_uri(tmp_path) == str(tmp_path.resolve() / "registry")
