"""A step type of the user's own, in a folder outside the package, used like a bundled one.

`cursus steps new` writes the unit; nothing in the package is edited. The unit is then listed,
validated, run locally, compiled for SageMaker and Airflow, and emulated in the scikit-learn
image twin; units also come from an installed distribution's entry point and $CURSUS_STEPS_PATH.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from cursus.backends.sagemaker.twins import TWINS, TwinUnavailable, require_twin
from cursus.cli.main import cli
from cursus.errors import SpecError
from cursus.steps import library
from cursus.steps.library import STEPS_PATH_ENV, reset_step_folders, step_library

ROLE = "arn:aws:iam::123456789012:role/cursus-test"
BUCKET = "cursus-test-bucket"


@pytest.fixture(autouse=True)
def _fresh_search_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(STEPS_PATH_ENV, raising=False)
    monkeypatch.setattr(library, "_cache", {})
    reset_step_folders()
    yield
    reset_step_folders()


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's project: steps/ with a scaffolded ColumnFilter, a DAG beside it, a config."""
    root = tmp_path / "project"
    root.mkdir()
    invoke("steps", "new", "ColumnFilter", "--dir", str(root / "steps"))
    dag = {
        "dag": {
            "nodes": ["DataLoading_training", "ColumnFilter_training"],
            "edges": [["DataLoading_training", "ColumnFilter_training"]],
        }
    }
    (root / "dag.json").write_text(json.dumps(dag))
    invoke(
        "config", "init", str(root / "dag.json"), "-o", str(root / "config.json"),
        "--set", f"role={ROLE}", "--set", f"bucket={BUCKET}",
        "--set", "pipeline_name=user-steps",
    )  # fmt: skip
    data = json.loads((root / "config.json").read_text())
    data["configuration"]["specific"]["ColumnFilter_training"]["keep_columns"] = [
        "mean_radius",
        "mean_texture",
    ]
    (root / "config.json").write_text(json.dumps(data, indent=2))
    return root


def test_the_unit_beside_the_dag_is_listed_validated_and_runs(project: Path) -> None:
    dag, config = str(project / "dag.json"), str(project / "config.json")
    assert "ok: 2 nodes, 1 edges, every input bound" in invoke("validate", dag, "-c", config)
    listed = json.loads(invoke("--steps", str(project / "steps"), "steps", "list", "--json"))
    origins = {row["step_type"]: row["origin"] for row in listed}
    assert origins["ColumnFilter"] == f"path {(project / 'steps').resolve()}"
    assert origins["DataLoading"] == "bundled"

    out = invoke("run", dag, "-c", config, "--workspace", str(project / "ws"), "--json",
                 "--no-tracking")  # fmt: skip
    result = json.loads(out)
    assert result["status"] == "succeeded"
    produced = Path(result["steps"]["ColumnFilter_training"]["outputs"]["output_data"])
    table = pd.read_parquet(produced / "data.parquet")
    assert list(table.columns) == ["mean_radius", "mean_texture", "label"]
    assert result["steps"]["ColumnFilter_training"]["metrics"] == {"rows": 398.0, "columns": 3.0}


def test_the_unit_compiles_for_sagemaker_with_its_own_code(project: Path) -> None:
    from cursus.targets import compile_dag

    compiled = compile_dag(
        str(project / "dag.json"), project / "config.json", allow_sample_data=True
    )
    steps = {s["Name"]: s for s in compiled.definition_dict()["Steps"]}
    job = steps["ColumnFilter_training"]["Arguments"]
    assert job["Environment"]["KEEP_COLUMNS"] == '["mean_radius", "mean_texture"]'
    assert "sagemaker-scikit-learn" in job["AppSpecification"]["ImageUri"]
    code = next(i for i in job["ProcessingInputs"] if i["InputName"] == "code")
    with tarfile.open(fileobj=io.BytesIO(compiled.code[code["S3Input"]["S3Uri"]])) as tar:
        names = tar.getnames()
    assert names == ["column_filter.py"]  # its own folder's files, not the bundled library's


def test_the_unit_compiles_for_airflow(project: Path, tmp_path: Path) -> None:
    dag_file = tmp_path / "dags" / "user_steps.py"
    invoke("compile", str(project / "dag.json"), "-c", str(project / "config.json"),
           "--target", "airflow", "-o", str(dag_file), "--allow-sample-data")  # fmt: skip
    text = dag_file.read_text()
    assert "ColumnFilter_training" in text
    plan_file = next(dag_file.parent.glob("*.plan.json"))
    step = next(
        s
        for s in json.loads(plan_file.read_text())["steps"]
        if s["name"] == "ColumnFilter_training"
    )
    assert step["script"]["folder"] == str((project / "steps").resolve())
    assert step["script"]["files"] == ["column_filter.py"]


def test_the_unit_runs_in_the_sklearn_image_twin(project: Path, tmp_path: Path) -> None:
    twin = TWINS[("sklearn", "1.2-1")]
    try:
        require_twin(twin)
    except TwinUnavailable as exc:
        if os.environ.get("CURSUS_REQUIRE_TWINS") == "1":
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    from cursus.backends.sagemaker.emulate import emulate
    from cursus.targets import compile_dag

    compiled = compile_dag(
        str(project / "dag.json"), project / "config.json", allow_sample_data=True
    )
    emulation = emulate(compiled, tmp_path / "emulation")
    assert emulation.succeeded, [(s.name, s.reason, s.log) for s in emulation.steps]
    assert [s.name for s in emulation.steps] == ["DataLoading_training", "ColumnFilter_training"]


def test_a_training_unit_of_the_users_trains_after_bundled_preprocessing(tmp_path: Path) -> None:
    steps = tmp_path / "steps"
    invoke("steps", "new", "TinyTrainer", "--kind", "training", "--framework", "xgboost",
           "--dir", str(steps))  # fmt: skip
    dag = {
        "dag": {
            "nodes": ["DataLoading_training", "TabularPreprocessing_training", "TinyTrainer"],
            "edges": [
                ["DataLoading_training", "TabularPreprocessing_training"],
                ["TabularPreprocessing_training", "TinyTrainer"],
            ],
        }
    }
    (tmp_path / "dag.json").write_text(json.dumps(dag))
    config = tmp_path / "config.json"
    invoke("config", "init", str(tmp_path / "dag.json"), "-o", str(config))
    out = invoke("run", str(tmp_path / "dag.json"), "-c", str(config), "--workspace",
                 str(tmp_path / "ws"), "--json", "--no-tracking")  # fmt: skip
    trained = json.loads(out)["steps"]["TinyTrainer"]
    assert trained["status"] == "succeeded"
    assert trained["metrics"]["train_accuracy"] > 0.9
    meta = json.loads((Path(trained["outputs"]["model_output"]) / "model_meta.json").read_text())
    assert meta["framework"] == "xgboost"


def test_units_from_an_installed_distribution_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A distribution is installed when its .dist-info is on sys.path: the entry point names a
    package whose folder holds units."""
    site = tmp_path / "site"
    package = site / "team_steps"
    invoke("steps", "new", "TeamCleaner", "--dir", str(package))
    (package / "__init__.py").write_text("")
    info = site / "team_steps-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: team-steps\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[cursus.steps]\nteam = team_steps\n")
    monkeypatch.syspath_prepend(str(site))
    env_folder = tmp_path / "env_steps"
    invoke("steps", "new", "EnvCleaner", "--dir", str(env_folder))
    monkeypatch.setenv(STEPS_PATH_ENV, str(env_folder))

    units = step_library().units
    assert units["TeamCleaner"].origin == "entry point team-steps: team"
    assert units["TeamCleaner"].folder == package.resolve()
    assert units["EnvCleaner"].origin == f"path {env_folder.resolve()}"
    assert units["XGBoostTraining"].origin == "bundled"


def test_two_units_of_one_name_is_an_error_naming_both(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    invoke("steps", "new", "Cleaner", "--dir", str(first))
    invoke("steps", "new", "Cleaner", "--dir", str(second))
    result = CliRunner().invoke(
        cli, ["--steps", str(first), "--steps", str(second), "steps", "list"]
    )
    assert result.exit_code == 2
    assert str(first.resolve() / "cleaner.step.yaml") in result.output
    assert str(second.resolve() / "cleaner.step.yaml") in result.output
    assert "declared twice" in result.output


def test_a_unit_may_not_shadow_a_bundled_step_type(tmp_path: Path) -> None:
    invoke("steps", "new", "Package", "--dir", str(tmp_path / "mine"))
    library.use_step_folders(tmp_path / "mine")
    with pytest.raises(SpecError, match=r"step type 'Package' is declared twice: in .*bundled"):
        step_library()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("framework: sklearn", "framework: catboost"), "'catboost' is not in the framework table"),
        (("column_filter_config.py:", "missing.py:"), "missing.py is not a file beside the spec"),
        (("ColumnFilterConfig", "NoSuchConfig"), "has no class 'NoSuchConfig'"),
    ],
)
def test_a_broken_unit_is_reported_by_file_and_field(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    folder = tmp_path / "steps"
    invoke("steps", "new", "ColumnFilter", "--dir", str(folder))
    spec = folder / "column_filter.step.yaml"
    spec.write_text(spec.read_text().replace(*edit))
    result = CliRunner().invoke(cli, ["--steps", str(folder), "steps", "list"])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {spec.resolve()}") and message in result.output
    assert "Traceback" not in result.output


def test_the_scaffold_refuses_bad_names_and_existing_files(tmp_path: Path) -> None:
    bad = CliRunner().invoke(cli, ["steps", "new", "column-filter", "--dir", str(tmp_path)])
    assert bad.exit_code == 2 and "use CamelCase" in bad.output
    invoke("steps", "new", "Cleaner", "--dir", str(tmp_path))
    again = CliRunner().invoke(cli, ["steps", "new", "Cleaner", "--dir", str(tmp_path)])
    assert again.exit_code == 2 and "pass --force" in again.output


SECRET = "s3cr3t-value-7f3a"


def test_a_secret_field_reaches_the_step_and_is_redacted_everywhere_else(
    project: Path, tmp_path: Path
) -> None:
    """A field marked `secret_field` in the user's config class: the step gets its value, and
    MLflow params, the execution document, the dashboard's plan and the lineage of a data
    source URL with a password do not show it; the plan file is its owner's only."""
    steps = project / "steps"
    config_py = steps / "column_filter_config.py"
    config_py.write_text(
        config_py.read_text().replace(
            "from cursus.steps.configs import BasePipelineConfig",
            "from cursus.steps.configs import BasePipelineConfig, secret_field",
        )
        + "    vendor_key: str | None = secret_field(description='key of the data vendor')\n"
    )
    spec = steps / "column_filter.step.yaml"
    spec.write_text(
        spec.read_text().replace(
            "    KEEP_COLUMNS: {config: keep_columns}\n",
            "    KEEP_COLUMNS: {config: keep_columns}\n    VENDOR_KEY: {config: vendor_key}\n",
        )
    )
    script = steps / "column_filter.py"
    script.write_text(
        script.read_text()
        .replace(
            'ENV_VARS = ["LABEL_FIELD", "KEEP_COLUMNS"]',
            'ENV_VARS = ["LABEL_FIELD", "KEEP_COLUMNS", "VENDOR_KEY"]',
        )
        .replace(
            '    return {"rows": len(df), "columns": len(df.columns)}',
            '    return {"rows": len(df), "columns": len(df.columns),\n'
            '            "key_matches": float(environ_vars.get("VENDOR_KEY") == "' + SECRET + '")}',
        )
    )
    data = json.loads((project / "config.json").read_text())
    data["configuration"]["specific"]["ColumnFilter_training"]["vendor_key"] = SECRET
    (project / "config.json").write_text(json.dumps(data, indent=2))
    dag, config, ws = str(project / "dag.json"), str(project / "config.json"), tmp_path / "ws"
    # the unit was read when the fixture wrote the config: forget it
    library._cache.clear()
    reset_step_folders()
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", "")).startswith(str(steps)):
            del sys.modules[name]

    from cursus.api.loading import load_dag
    from cursus.core.planner import compile_plan
    from cursus.mlops.tracking import mlflow_client
    from cursus.targets import run_pipeline

    plan = compile_plan(load_dag(dag), config)
    assert plan.step("ColumnFilter_training").secrets == ["VENDOR_KEY", "vendor_key"]
    result = run_pipeline(dag, config, workspace=ws, tracking=True)
    assert result.ok, {n: s.error for n, s in result.steps.items() if not s.ok}
    assert result.steps["ColumnFilter_training"].metrics["key_matches"] == 1.0

    plan_file = ws / "runs" / result.run_id / "plan.json"
    assert SECRET in plan_file.read_text() and plan_file.stat().st_mode & 0o077 == 0
    client = mlflow_client(f"sqlite:///{ws / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    params = {k: v for run in client.search_runs(experiments) for k, v in run.data.params.items()}
    assert params["vendor_key"] == "***" and SECRET not in json.dumps(params)
    document = invoke("exec-doc", "generate", dag, "-c", config)
    assert SECRET not in document and "vendor_key" not in document

    from cursus.dashboard.stores import Workspace

    shown = json.dumps(Workspace(ws).plan({"run_id": result.run_id}))
    assert SECRET not in shown and '"VENDOR_KEY": "***"' in shown

    from cursus.redaction import redact

    assert redact({"data_source": "https://ann:pw@data.example/x.csv"}) == {
        "data_source": "https://ann:***@data.example/x.csv"
    }
