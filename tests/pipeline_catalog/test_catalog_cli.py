"""`cursus catalog`: every command on real files in temp folders."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from cursus.cli.main import cli
from cursus.core.config_file import load_configs
from cursus.mods.registry import TemplateInfo, TemplateRegistry
from cursus.pipeline_catalog.index import catalog_pipelines, pipeline_ids
from cursus.plan import Plan

CURSUS = Path(sys.executable).with_name("cursus")

# every MODS pipeline of the catalog: the standard ones' ids with _mods
MODS_IDS = sorted(i for i in pipeline_ids() if i.endswith("_mods"))
# the standard pipelines whose DAG registers a model
REGISTERING = sorted(
    p.id
    for p in catalog_pipelines()
    if p.compiler_type == "standard" and "Registration" in p.create_dag().nodes
)


def run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["catalog", *[str(a) for a in args]])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result.exit_code, result.output


# ---------------------------------------------------------------- list, show, recommend


def test_list_shows_every_pipeline() -> None:
    code, out = run("list")
    assert code == 0
    for pipeline_id in pipeline_ids():
        assert f" {pipeline_id} " in out
    assert "XGBoost complete end to end (MODS)" in out


def test_list_filters_and_prints_json() -> None:
    code, out = run("list", "--compiler-type", "mods", "--framework", "pytorch", "--json")
    assert code == 0
    assert [e["id"] for e in json.loads(out)] == [
        "pytorch_complete_e2e_mods",
        "pytorch_standard_e2e_mods",
        "pytorch_stratified_percentile_e2e_mods",
        "pytorch_training_mods",
    ]
    code, out = run("list", "--task", "registration", "--compiler-type", "standard", "--json")
    assert [e["id"] for e in json.loads(out)] == REGISTERING
    assert {"xgboost_complete_e2e", "model_deployment", "pretrained_model_e2e"} <= set(REGISTERING)
    code, out = run("list", "--framework", "lightgbm", "--json")
    assert code == 0
    assert [e["id"] for e in json.loads(out)] == [
        "lightgbm_complete_e2e",
        "lightgbm_complete_e2e_mods",
        "lightgbm_complete_e2e_with_percentile_calibration",
        "lightgbm_complete_e2e_with_percentile_calibration_mods",
    ]


def test_list_with_a_wrong_compiler_type_exits_2_with_the_choices() -> None:
    code, out = run("list", "--compiler-type", "airflow")
    assert code == 2
    assert "error: unknown compiler type 'airflow'; use one of: standard, mods" in out


def test_show_draws_the_dag() -> None:
    code, out = run("show", "xgboost_training_calibration_mods")
    assert code == 0
    assert "compiler_type:  mods" in out
    assert "mods template:  XgboostTrainingCalibrationTemplate 1.0.0 by cursus-catalog" in out
    assert "DataLoading_calibration\n└── TabularPreprocessing_calibration\n" in out
    assert "        └── XGBoostModelEval_calibration\n" in out
    code, out = run("show", "model_deployment", "--json")
    shown = json.loads(out)
    assert shown["dag"]["nodes"] == ["Package", "Payload", "Registration"]
    assert "Package.model_input" in shown["shared"]["external_inputs"]


def test_an_unknown_id_exits_2_listing_the_ids() -> None:
    code, out = run("show", "xgboost_simpel")
    assert code == 2
    assert "error: no catalog pipeline 'xgboost_simpel'; did you mean 'xgboost_simple'?" in out
    assert (
        "catalog ids: lightgbm_complete_e2e, lightgbm_complete_e2e_mods, "
        "lightgbm_complete_e2e_with_percentile_calibration," in out
    )


def test_recommend() -> None:
    code, out = run("recommend", "--framework", "xgboost", "--task", "training", "--json")
    assert code == 0
    found = json.loads(out)
    assert found[0] == {
        "id": "xgboost_simple",
        "score": 6.0,
        "reasons": ["framework xgboost", "task training"],
    }
    code, out = run("recommend", "--framework", "pytorch", "--task", "deployment")
    assert code == 0 and "model_deployment" in out and "works with any framework" in out
    code, out = run("recommend", "--task", "dancing")
    assert code == 2 and "unknown task 'dancing'" in out


# ---------------------------------------------------------------- config, compile, run


def test_config_writes_the_sample(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    code, out = run("config", "xgboost_simple", "-o", path, "--set", "author=ann")
    assert code == 0, out
    assert f"wrote {path}: sample config of xgboost_simple, 3 node configs" in out
    assert load_configs(path)["XGBoostTraining"].author == "ann"
    code, out = run("config", "xgboost_simple", "-o", path)
    assert code == 2 and "exists; pass --force" in out


def test_config_of_the_deployment_pipeline_says_where_the_model_goes(tmp_path: Path) -> None:
    path = tmp_path / "deploy.json"
    code, out = run("config", "model_deployment", "-o", path, "--model-uri", "/models/m1")
    assert code == 0, out
    assert "Package.model_input is bound to /models/m1" in out
    assert load_configs(path)["Package"].input_bindings == {"model_input": "/models/m1"}


def test_compile_to_a_plan(sample_config: Callable[..., Path], tmp_path: Path) -> None:
    out_path = tmp_path / "plan.json"
    code, out = run(
        "compile",
        "xgboost_standard_e2e",
        "-c",
        sample_config("xgboost_standard_e2e"),
        "-o",
        out_path,
    )
    assert code == 0, out
    plan = Plan.load(out_path)
    assert [s.name for s in plan.steps][-1] == "Registration"


def test_compile_a_mods_pipeline_for_sagemaker(
    sample_config: Callable[..., Path], tmp_path: Path, registry_path: Path
) -> None:
    out_path = tmp_path / "pipeline.json"
    config = sample_config("xgboost_simple_mods")
    code, out = run(
        "compile",
        "xgboost_simple_mods",
        "-c",
        config,
        "--target",
        "sagemaker",
        "-o",
        out_path,
        "--allow-sample-data",
    )
    assert code == 0, out
    definition = json.loads(out_path.read_text())
    assert {s["Name"] for s in definition["Steps"]} >= {"XGBoostTraining", "DataLoading_training"}
    assert f"registered the MODS template in {registry_path}" in out
    code, out = run("mods", "check-registry", "xgboost_simple_mods", "--require-all")
    assert code == 0, out
    assert "1 registered, 0 not registered, 0 mismatched" in out


def test_run_and_export_the_model(
    sample_config: Callable[..., Path], catalog_workspace: Path, tmp_path: Path
) -> None:
    exported = tmp_path / "models" / "latest"
    code, out = run(
        "run",
        "pytorch_training",
        "-c",
        sample_config("pytorch_training"),
        "--workspace",
        catalog_workspace,
        "--registry-uri",
        catalog_workspace / "registry",
        "--export-model",
        exported,
        "--json",
    )
    assert code == 0, out
    result = json.loads(out)
    assert result["status"] == "succeeded" and result["exported_model"] == str(exported)
    assert (exported / "model_meta.json").is_file() and (exported / "model.pt").is_file()
    # the one run path: tracked in MLflow (by a writer that outlives the command) and its data
    # lineage recorded, as `cursus run` does
    from cursus.mlops.data import data_inputs

    assert [r["node"] for r in data_inputs(catalog_workspace, result["run_id"])]
    assert _parent_run_status(catalog_workspace / "mlflow.db", result["run_id"]) == "FINISHED"


def _parent_run_status(db: Path, run_id: str, timeout: float = 120.0) -> str | None:
    from cursus.mlops.tracking import mlflow_client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.is_file():
            client = mlflow_client(f"sqlite:///{db}")
            runs = client.search_runs(
                [e.experiment_id for e in client.search_experiments()],
                f"tags.cursus_run_id = '{run_id}' and tags.cursus_pipeline_run = 'true'",
            )
            if runs and runs[0].info.status == "FINISHED":
                return "FINISHED"
        time.sleep(0.5)
    return None


# ---------------------------------------------------------------- index and bundled DAGs


def test_index_and_bundled_dags_agree_with_the_code() -> None:
    code, out = run("index")
    assert code == 0 and "agrees with the code and its schema" in out
    code, out = run("bundled-dags")
    assert code == 0 and "are the shared DAGs" in out


# ---------------------------------------------------------------- mods


def test_mods_list() -> None:
    code, out = run("mods", "list")
    assert code == 0
    assert "PytorchCompleteE2eTemplate" in out and "xgboost_simple_mods" in out
    code, out = run("mods", "list", "--json")
    assert [e["id"] for e in json.loads(out)] == MODS_IDS


def test_mods_commands_on_an_absent_registry(registry_path: Path) -> None:
    code, out = run("mods", "registry-status")
    assert code == 0 and f"no template registry at {registry_path} yet" in out
    code, out = run("mods", "list-registry")
    assert code == 0 and "no template registry" in out
    code, out = run("mods", "check-registry")
    assert code == 0, "nothing registered is not inconsistent"
    assert f"0 registered, {len(MODS_IDS)} not registered, 0 mismatched" in out
    code, out = run("mods", "check-registry", "--require-all")
    assert code == 1
    assert not registry_path.exists()


def test_mods_commands_on_a_registry_with_a_mismatch(registry_path: Path) -> None:
    TemplateRegistry(registry_path).register(
        TemplateInfo(
            name="XgboostSimpleTemplate",
            version="0.1.0",
            author="ann",
            description="an older one",
            module="m",
            dag_digest="d",
            config_digest="c",
            framework="xgboost",
        )
    )
    code, out = run("mods", "list-registry", "--group-by", "author", "--json")
    assert code == 0 and [t["version"] for t in json.loads(out)["ann"]] == ["0.1.0"]
    code, out = run("mods", "list-registry")
    assert "XgboostSimpleTemplate" in out and "0.1.0" in out
    code, out = run("mods", "registry-status", "--json")
    assert json.loads(out)["authors"] == ["ann"]
    code, out = run("mods", "check-registry", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["mismatched"] == ["xgboost_simple_mods"] and report["consistent"] is False


def test_check_registry_refuses_a_standard_id() -> None:
    code, out = run("mods", "check-registry", "xgboost_simple")
    assert code == 2
    assert f"'xgboost_simple' is standard, not mods; mods pipelines: {', '.join(MODS_IDS)}\n" in out


# ---------------------------------------------------------------- speed


def test_list_in_a_fresh_process_imports_neither_sagemaker_nor_mlflow() -> None:
    code = (
        "import sys\n"
        "from cursus.cli.main import main\n"
        "sys.argv = ['cursus', 'catalog', 'list']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'sagemaker', 'mlflow', 'boto3', 'torch', 'pandas'})\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in done.stderr
    assert "xgboost_complete_e2e_mods" in done.stdout


@pytest.mark.slow
def test_list_is_quick_in_a_fresh_process() -> None:
    """bench/bench_catalog.py measures the median; this only catches something heavy creeping in."""
    subprocess.run([str(CURSUS), "catalog", "list"], check=True, capture_output=True)
    start = time.perf_counter()
    subprocess.run([str(CURSUS), "catalog", "list"], check=True, capture_output=True)
    assert time.perf_counter() - start < 2.0
