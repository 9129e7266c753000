"""validate -> resolve -> Plan: the Plan's content, its byte-for-byte stability, and validation that
reports every problem at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cursus.api.dag import PipelineDAG
from cursus.api.loading import load_dag
from cursus.core.compiler import PipelineDAGCompiler, compile_dag_to_pipeline
from cursus.core.config_file import default_configs, save_configs
from cursus.core.planner import compile_plan, validate
from cursus.errors import ConfigError, PlanError, ResolutionError, SpecError, ValidationFailed
from cursus.plan import PLAN_FORMAT, Plan, expand_plan_dict

CURSUS = Path(sys.executable).with_name("cursus")


@pytest.fixture
def e2e_config(tmp_path: Path) -> Path:
    dag = load_dag("xgboost_e2e")
    return save_configs(
        default_configs(dag, pipeline_name="e2e", author="ann"), tmp_path / "config.json"
    )


def test_plan_steps_come_in_topological_order_with_their_wiring() -> None:
    dag = load_dag("xgboost_e2e")
    plan = compile_plan(dag, default_configs(dag, pipeline_name="e2e"))
    assert [s.name for s in plan.steps] == dag.topological_sort()
    assert plan.format == PLAN_FORMAT
    assert plan.dag == dag.to_dict()["dag"]
    assert plan.pipeline["pipeline_name"] == "e2e"
    assert plan.warnings == []
    prep = plan.step("TabularPreprocessing_training")
    assert prep.step_type == "TabularPreprocessing"
    assert prep.job_type == "training"
    assert prep.job_kind == "processing"
    assert prep.depends_on == ["DataLoading_training"]
    assert {k: (v["from_step"], v["output"]) for k, v in prep.inputs.items()} == {
        "data_input": ("DataLoading_training", "data"),
        "metadata_input": ("DataLoading_training", "metadata"),
    }
    assert prep.outputs["processed_data"] == {
        "kind": "processed_tabular",
        "container_path": "/opt/ml/processing/output/processed_data",
    }
    assert prep.config["class"] == "TabularPreprocessingConfig"
    assert prep.env == {
        "LABEL_FIELD": "label",
        "TRAIN_RATIO": "0.7",
        "TEST_VAL_RATIO": "0.5",
        "RANDOM_SEED": "42",
    }
    assert prep.job_args == {"job_type": "training"}
    assert prep.script["entry_point"] == "tabular_preprocessing.py"
    assert len(prep.script["sha256"]) == 64


def test_env_runtime_values_and_job_args_follow_the_contract() -> None:
    dag = load_dag("xgboost_e2e")
    plan = compile_plan(dag, default_configs(dag, pipeline_name="e2e"))
    registration = plan.step("Registration")
    assert registration.env == {
        "MODEL_NAME": "e2e",
        "PIPELINE_NAME": "e2e",
        "PIPELINE_VERSION": "1.0.0",
    }
    assert registration.runtime_env == {
        "MODEL_REGISTRY_URI": "model_registry_uri",
        "CURSUS_RUN_ID": "run_id",
        "CURSUS_INPUT_DIGESTS": "input_digests",
    }
    training = plan.step("XGBoostTraining")
    assert training.job_args["hyperparameters"]["max_depth"] == 6
    assert training.job_kind == "training"


def test_the_same_dag_and_config_give_a_byte_identical_plan(e2e_config: Path) -> None:
    first = (
        PipelineDAGCompiler(e2e_config).compile(load_dag("xgboost_e2e"), target="plan").to_json()
    )
    second = (
        PipelineDAGCompiler(e2e_config).compile(load_dag("xgboost_e2e"), target="plan").to_json()
    )
    assert first == second
    shuffled_configs = dict(
        reversed(
            default_configs(load_dag("xgboost_e2e"), pipeline_name="e2e", author="ann").items()
        )
    )
    assert compile_plan(load_dag("xgboost_e2e"), shuffled_configs).to_json() == first


def test_byte_identical_in_another_process_with_another_hash_seed(
    e2e_config: Path, tmp_path: Path
) -> None:
    """Nothing in the Plan depends on set or dict order that varies between processes."""
    out = tmp_path / "plan.json"
    seed = "0" if os.environ.get("PYTHONHASHSEED") != "0" else "1"
    subprocess.run(
        [str(CURSUS), "compile", "xgboost_e2e", "-c", str(e2e_config), "-o", str(out)],
        check=True,
        env={**os.environ, "PYTHONHASHSEED": seed},
        capture_output=True,
    )
    here = PipelineDAGCompiler(e2e_config).compile(load_dag("xgboost_e2e"), target="plan").to_json()
    assert out.read_text() == here


def test_plan_is_json_that_loads_back(tmp_path: Path) -> None:
    dag = load_dag("pytorch_e2e")
    plan = compile_plan(dag, default_configs(dag))
    path = plan.save(tmp_path / "out" / "plan.json")
    written = expand_plan_dict(json.loads(path.read_text()))
    assert written.pop("shared_config") and written.pop("shared_from_pipeline")
    assert written == plan.to_dict()
    again = Plan.load(path)
    assert again == plan
    assert again.to_json() == plan.to_json()
    assert again.digest == plan.digest


def test_a_config_value_is_written_once_per_plan_and_format_2_plans_still_load(
    tmp_path: Path,
) -> None:
    """A value every step shares (a long description) is written once, not once per step (a
    5 MB description made a 55 MB plan.json); plans written before (format 2) still load."""
    dag = load_dag("xgboost_e2e")
    text = "x" * 60_000
    plan = compile_plan(dag, default_configs(dag, pipeline_description=text))
    assert all(s.config["pipeline_description"] == text for s in plan.steps)
    size = len(plan.save(tmp_path / "plan.json").read_bytes())
    assert size < len(text) * 1.5, f"{size} bytes for one {len(text)}-character value"
    assert Plan.load(tmp_path / "plan.json") == plan
    old = {**plan.to_dict(), "format": 2}  # each step's config whole, as format 2 wrote it
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert Plan.load(tmp_path / "old.json").to_json() == plan.to_json()


def test_a_value_too_long_for_any_target_is_one_line_naming_the_field(tmp_path: Path) -> None:
    dag = load_dag("xgboost_e2e")
    configs = default_configs(dag)
    path = save_configs(configs, tmp_path / "config.json")
    data = json.loads(path.read_text())
    data["configuration"]["shared"]["pipeline_description"] = "x" * 5_000_000
    path.write_text(json.dumps(data))
    result = subprocess.run(
        [str(CURSUS), "validate", "xgboost_e2e", "-c", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.count("holds a text of 5,000,000 characters") == 1, result.stderr
    assert "shared field 'pipeline_description'" in result.stderr
    from cursus.steps.configs import XGBoostTrainingConfig

    with pytest.raises(ValueError, match="field 'hyperparameters' holds a text of 70,000"):
        XGBoostTrainingConfig(hyperparameters={"objective": "x" * 70_000})


def test_plan_summary_and_unknown_steps() -> None:
    dag = load_dag("xgboost_simple")
    plan = compile_plan(dag, default_configs(dag, pipeline_name="simple"))
    assert plan.summary().splitlines()[0] == "simple 1.0.0: 3 steps"
    assert (
        "  XGBoostTraining [training]  input_path<-TabularPreprocessing_training.processed_data"
        in plan.summary()
    )
    with pytest.raises(
        PlanError, match="the plan has no step 'Package'; its steps are: DataLoading_training"
    ):
        plan.step("Package")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ('{"format": 99}', "not a Cursus plan of format 3"),
        ('{"format": 1}', "not a Cursus plan of format 3"),  # before the Plan carried scripts
        ('{"format": 2, "steps": []}', "malformed plan"),
        ('{"format": 2, "pipeline": {}, "dag": {}, "steps": [{"name": "x"}]}', "malformed plan"),
    ],
)
def test_bad_plan_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(PlanError, match=message):
        Plan.load(path)


def test_an_edge_that_carries_no_data_is_a_warning_in_the_plan() -> None:
    dag = load_dag("xgboost_simple")
    dag.add_edge("DataLoading_training", "XGBoostTraining")
    plan = compile_plan(dag, default_configs(dag))
    assert plan.warnings == [
        "edge DataLoading_training -> XGBoostTraining carries no data: no input of XGBoostTraining "
        "binds to an output of DataLoading_training"
    ]


# ---------------------------------------------------------------- validation


def test_validate_reports_every_problem_at_once() -> None:
    dag = PipelineDAG(
        ["DataLoading", "XGBoostTraining", "Trainer"],
        [("DataLoading", "XGBoostTraining")],
    )
    configs = default_configs(PipelineDAG(["DataLoading", "XGBoostTraining"]))
    configs["DataLoading"].author = "bob"
    report, _ = validate(dag, configs, "cfg.json")
    assert not report.ok
    assert [type(p) for p in report.problems] == [SpecError, ConfigError]
    # a node that names no step type stops resolution; fix it and the wiring problems show
    report, _ = validate(
        PipelineDAG(["DataLoading", "XGBoostTraining"], [("DataLoading", "XGBoostTraining")]),
        configs,
        "cfg.json",
    )
    assert [type(p) for p in report.problems] == [ConfigError, ResolutionError, ResolutionError]
    with pytest.raises(ValidationFailed) as info:
        report.raise_if_failed()
    assert info.value.problems == report.problems
    assert str(info.value).startswith(
        "3 problem(s) found:\n  - cfg.json: pipeline field 'author' differs"
    )


def test_compiling_a_broken_pipeline_raises_every_problem(tmp_path: Path) -> None:
    dag = load_dag("xgboost_e2e")
    configs = default_configs(dag)
    del configs["Payload"]
    configs["Package"].input_bindings = {"model_input": "Payload.payload_sample"}
    path = save_configs(configs, tmp_path / "config.json")
    with pytest.raises(ValidationFailed) as info:
        PipelineDAGCompiler(path).compile_to_plan(dag)
    messages = [str(p) for p in info.value.problems]
    assert len(messages) == 2
    assert "DAG node 'Payload' has no config" in messages[0]
    assert "node 'Package': input_bindings['model_input'] = 'Payload.payload_sample'" in messages[1]


def test_compiler_object_and_function(e2e_config: Path) -> None:
    dag = load_dag("xgboost_e2e")
    compiler = PipelineDAGCompiler(e2e_config, role="arn:aws:iam::1:role/x")
    assert compiler.validate_dag_compatibility(dag).ok
    plan = compiler.compile(dag, target="plan")
    assert isinstance(plan, Plan)
    assert compile_dag_to_pipeline(dag, e2e_config, target="plan").to_json() == plan.to_json()
    with pytest.raises(
        ConfigError,
        match="unknown compile target 'kubeflow'; available: plan, local, sagemaker, airflow",
    ):
        compiler.compile(dag, target="kubeflow")
    with pytest.raises(
        ConfigError, match="target 'airflow': missing a required argument: 'output'"
    ):
        compiler.compile(dag, target="airflow")
    runner = compiler.compile(dag, target="local", workspace=e2e_config.parent / "ws")
    assert runner.plan.to_json() == plan.to_json()
    report = PipelineDAGCompiler(e2e_config.with_name("missing.json")).validate_dag_compatibility(
        dag
    )
    assert not report.ok
    assert "no such config file" in str(report.problems[0])


def test_configs_for_nodes_outside_the_dag_are_a_warning(e2e_config: Path) -> None:
    report = PipelineDAGCompiler(e2e_config).validate_dag_compatibility(load_dag("xgboost_simple"))
    assert report.ok
    assert report.warnings == [
        f"{e2e_config}: configs for nodes not in the DAG are ignored: DataLoading_calibration, "
        "ModelCalibration_calibration, Package, Payload, Registration, TabularPreprocessing_calibration, "
        "XGBoostModelEval_calibration"
    ]


def test_a_step_that_runs_the_model_takes_the_models_framework() -> None:
    """Payload's spec says `framework: model`: the training step upstream names the framework,
    else the node's model_framework; with neither, compiling says how to fix it."""
    dag = load_dag("xgboost_e2e")
    plan = compile_plan(dag, default_configs(dag, pipeline_name="e2e"))
    assert plan.step("Payload").framework == "xgboost"
    assert plan.step("Package").framework == "sklearn"
    alone = PipelineDAG()
    for node in ("Package", "Payload"):
        alone.add_node(node)
    alone.add_edge("Package", "Payload")
    configs = default_configs(alone, pipeline_name="deploy")
    configs["Package"].input_bindings = {"model_input": "s3://bucket/model.tar.gz"}
    with pytest.raises(ConfigError, match=r"node 'Payload'.*set model_framework"):
        compile_plan(alone, configs)
    configs["Payload"].model_framework = "pytorch"
    assert compile_plan(alone, configs).step("Payload").framework == "pytorch"
