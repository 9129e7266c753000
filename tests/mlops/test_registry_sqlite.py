"""A local MLflow registry (a sqlite:/// file) is read with sqlite3, without importing MLflow
(seconds), and answers exactly as MLflow does: the same models, versions, aliases, metrics,
lineage and archives, with deleted versions and prompts left out. Another schema is read through
MLflow."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from _mlops_support import make_package
from mlflow import MlflowClient

from cursus.dashboard.stores import Workspace
from cursus.mlops.registry import (
    READABLE_SCHEMAS,
    MLflowRegistryView,
    SqliteRegistryView,
    open_registry_view,
    register_packaged_model,
)


@pytest.fixture
def store(tmp_path: Path, new_store: Callable[[Path], str]) -> str:
    """Two models as Registration leaves them, one with a deleted version, an alias moved, a
    described version, a model whose only version was deleted, and a prompt."""
    uri = new_store(tmp_path / "ws")
    for n, auc in enumerate([0.81, 0.84, 0.9]):
        register_packaged_model(make_package(tmp_path / f"churn{n}", val_auc=auc), "churn", uri)
    register_packaged_model(make_package(tmp_path / "fraud"), "fraud", uri,
                            lineage={"pipeline_name": "fraud-e2e"})  # fmt: skip
    register_packaged_model(make_package(tmp_path / "gone"), "gone", uri)
    client = MlflowClient(uri)
    client.delete_model_version("churn", "2")
    client.delete_model_version("gone", "1")
    client.set_registered_model_alias("churn", "production", "1")
    client.update_model_version("churn", "3", description="retrained on November")
    client.register_prompt(name="greeting", template="Hello {{name}}")
    return uri


def test_it_answers_as_mlflow_does(store: str, tmp_path: Path) -> None:
    fast = open_registry_view(store)
    assert isinstance(fast, SqliteRegistryView)
    slow = MLflowRegistryView(store)
    assert fast.model_names() == slow.model_names() == ["churn", "fraud", "gone"]
    for name in ["churn", "fraud", "gone", "greeting", "missing"]:
        assert [v.to_dict() for v in fast.versions(name)] == [
            v.to_dict() for v in slow.versions(name)
        ], name
    assert [v.version for v in fast.versions("churn")] == [1, 3]  # 2 was deleted
    assert fast.get("churn", alias="production").version == 1
    assert fast.get("churn").description == "retrained on November"
    assert fast.get("churn").metrics == slow.get("churn").metrics != {}
    assert fast.get("fraud").lineage["pipeline_name"] == "fraud-e2e"
    assert fast.aliases("churn") == slow.aliases("churn") == {"production": 1, "candidate": 3}
    version = fast.get("churn", version=3)
    archive = fast.packaged_model(version, tmp_path / "cache")
    assert archive == slow.packaged_model(version, tmp_path / "cache")
    assert archive.is_file()


def test_moving_an_alias_goes_through_mlflow_and_reads_back(store: str) -> None:
    view = open_registry_view(store)
    assert isinstance(view, SqliteRegistryView)
    view.set_alias("churn", "production", 3)
    assert view.aliases("churn") == {"production": 3, "candidate": 3}
    assert MLflowRegistryView(store).aliases("churn") == {"production": 3, "candidate": 3}


def test_the_dashboard_leaves_out_what_mlflow_leaves_out(store: str) -> None:
    root = Path(store[len("sqlite:///") :]).parent
    models = {m["name"]: m for m in Workspace(root).models()}
    assert sorted(models) == ["churn", "fraud"]  # 'gone' has no version left, no prompt
    assert [v["version"] for v in models["churn"]["versions"]] == [1, 3]
    assert models["churn"]["versions"][0]["aliases"] == ["production"]


def test_a_schema_it_has_not_checked_is_read_through_mlflow(store: str, tmp_path: Path) -> None:
    copy = tmp_path / "other" / "mlflow.db"
    copy.parent.mkdir()
    with sqlite3.connect(store[len("sqlite:///") :]) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    with sqlite3.connect(copy) as con:
        con.execute("UPDATE alembic_version SET version_num = 'f0f0f0f0f0f0'")
    assert isinstance(open_registry_view(f"sqlite:///{copy}"), MLflowRegistryView)
    with sqlite3.connect(tmp_path / "plain.db") as con:
        con.execute("CREATE TABLE t (x)")
    assert isinstance(open_registry_view(f"sqlite:///{tmp_path / 'plain.db'}"), MLflowRegistryView)


def test_multi_tenant_workspaces_are_left_to_mlflow(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    assert isinstance(open_registry_view(store), MLflowRegistryView)


def test_the_installed_mlflow_writes_a_schema_it_reads() -> None:
    """Fails after an MLflow upgrade that changed the schema: compare the registry tables that
    SqliteRegistryView reads with the new revision's, then add it to READABLE_SCHEMAS."""
    from mlflow.store.db.utils import _get_latest_schema_revision

    assert _get_latest_schema_revision() in READABLE_SCHEMAS


def test_models_list_imports_no_mlflow(store: str) -> None:
    code = (
        "import sys; from click.testing import CliRunner; from cursus.cli.main import cli; "
        f"r = CliRunner().invoke(cli, ['models', 'list', '--registry-uri', {store!r}, '--json']); "
        "print(r.output); assert r.exit_code == 0, r.output; "
        "assert 'mlflow' not in sys.modules, 'mlflow was imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"name": "churn"' in done.stdout and '"latest_version": 3' in done.stdout
