"""Execution documents: generated from a Plan, validated, applied to configs; secrets never appear."""

import json
from pathlib import Path

import pytest

from cursus.api.loading import load_dag
from cursus.core.config_file import load_configs
from cursus.core.planner import compile_plan
from cursus.errors import ConfigError
from cursus.mods.exec_doc import (
    apply_execution_document,
    generate_execution_document,
    load_execution_document,
    validate_execution_document,
)


@pytest.fixture
def plan(e2e_config: Path):
    dag = load_dag("xgboost_e2e")
    return compile_plan(dag, load_configs(e2e_config, dag))


def test_one_section_per_step_with_its_runtime_config(plan) -> None:
    doc = generate_execution_document(plan)
    assert list(doc["PIPELINE_STEP_CONFIGS"]) == [s.name for s in plan.steps]
    training = doc["PIPELINE_STEP_CONFIGS"]["XGBoostTraining"]
    assert training["STEP_TYPE"] == ["XGBoostTraining", "training"]
    assert training["STEP_CONFIG"]["hyperparameters"]["num_round"] == 200
    assert "input_bindings" not in training["STEP_CONFIG"]
    assert doc["PIPELINE_ADDITIONAL_PARAMS"]["pipeline_name"] == "xgb-e2e"
    assert validate_execution_document(doc, plan) == []


def test_secrets_never_appear(plan) -> None:
    plan.steps[0].config["input_bindings"] = {}
    plan.steps[0].config["storage_options"] = {"key": "AKIA", "secret": "s3cr3t", "api_token": "t"}
    plan.pipeline["db_password"] = "hunter2"
    text = json.dumps(generate_execution_document(plan))
    for secret in ("s3cr3t", "hunter2", '"t"', "api_token", "db_password"):
        assert secret not in text


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.pop("PIPELINE_STEP_CONFIGS"), "PIPELINE_STEP_CONFIGS"),
        (
            lambda d: d["PIPELINE_STEP_CONFIGS"]["Package"].pop("STEP_TYPE"),
            "PIPELINE_STEP_CONFIGS.Package",
        ),
        (
            lambda d: d["PIPELINE_STEP_CONFIGS"].update(
                {"Nope": {"STEP_CONFIG": {}, "STEP_TYPE": ["X"]}}
            ),
            "Nope",
        ),
        (
            lambda d: d["PIPELINE_STEP_CONFIGS"]["Package"]["STEP_CONFIG"].update({"colour": 1}),
            "colour",
        ),
        (
            lambda d: d["PIPELINE_STEP_CONFIGS"]["Package"]["STEP_CONFIG"].update(
                {"job_type": "x"}
            ),
            "job_type",
        ),
    ],
)
def test_validation_names_the_field(plan, mutate, expected: str) -> None:
    doc = generate_execution_document(plan)
    mutate(doc)
    problems = validate_execution_document(doc, plan)
    assert problems and expected in problems[0]


def test_applying_a_document_overrides_runtime_values(
    plan, e2e_config: Path, tmp_path: Path
) -> None:
    dag = load_dag("xgboost_e2e")
    configs = load_configs(e2e_config, dag)
    doc = generate_execution_document(plan)
    doc["PIPELINE_STEP_CONFIGS"]["XGBoostTraining"]["STEP_CONFIG"]["hyperparameters"][
        "num_round"
    ] = 17
    doc["PIPELINE_STEP_CONFIGS"]["DataLoading_training"]["STEP_CONFIG"]["data_source"] = (
        "/data/new.csv"
    )
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    updated = apply_execution_document(configs, load_execution_document(path), str(path))
    assert updated["XGBoostTraining"].hyperparameters.num_round == 17
    assert updated["DataLoading_training"].data_source == "/data/new.csv"
    assert configs["XGBoostTraining"].hyperparameters.num_round == 200  # originals untouched
    new_plan = compile_plan(dag, updated)
    assert new_plan.step("XGBoostTraining").job_args["hyperparameters"]["num_round"] == 17


def test_bad_values_in_a_document_are_named(plan, e2e_config: Path) -> None:
    dag = load_dag("xgboost_e2e")
    configs = load_configs(e2e_config, dag)
    doc = generate_execution_document(plan)
    doc["PIPELINE_STEP_CONFIGS"]["XGBoostTraining"]["STEP_CONFIG"]["hyperparameters"]["eta"] = -1
    with pytest.raises(ConfigError, match=r"XGBoostTraining', field 'hyperparameters.eta'"):
        apply_execution_document(configs, doc)


def test_unreadable_documents(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such execution document"):
        load_execution_document(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_execution_document(bad)
    bad.write_text('{"PIPELINE_STEP_CONFIGS": {}}')
    with pytest.raises(ConfigError, match="PIPELINE_ADDITIONAL_PARAMS"):
        load_execution_document(bad)
