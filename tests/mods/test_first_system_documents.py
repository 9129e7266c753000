"""The first system's public execution documents (tests/core/first_system_configs, source in
SOURCE.md) validate and apply against their migrated configs: steps keyed by SageMaker step names,
STEP_TYPE a string or a list, Cradle requests and registry fields as that system writes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cursus.api.loading import load_dag
from cursus.cli.main import cli
from cursus.core.config_file import load_configs
from cursus.core.migrate import migrate_config_file
from cursus.core.planner import compile_plan
from cursus.mods.exec_doc import (
    apply_execution_document,
    generate_execution_document,
    runtime_differences,
    step_node,
    validate_execution_document,
)

TESTS = Path(__file__).resolve().parents[1]
FIXTURES = TESTS / "core" / "first_system_configs"
DAG = TESTS / "pipeline_catalog" / "first_system_dags" / "xgboost__complete_e2e.json"
PROJECTS = {"atoz_xgboost": "hyperparameters_NA", "ab_lightgbm": "hyperparameters"}
SOURCES = {
    "CradleDataLoading_training": "s3://example-team-share-bucket/training/",
    "CradleDataLoading_calibration": "s3://example-team-share-bucket/calibration/",
}


def run(*args: Any) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("migrated")
    out = {}
    for project, hp in PROJECTS.items():
        result = migrate_config_file(
            FIXTURES / f"{project}.config.json", None, FIXTURES / f"{project}.{hp}.json", SOURCES
        )
        assert result.ok, result.refused
        out[project] = root / f"{project}.json"
        out[project].write_text(json.dumps(result.config))
    return out


@pytest.mark.parametrize("project", list(PROJECTS))
def test_a_public_document_validates_against_its_migrated_config(
    project: str, migrated: dict[str, Path]
) -> None:
    document = FIXTURES / f"{project}.execute_doc.json"
    code, output = run("exec-doc", "validate", document)  # the schema alone
    assert code == 0, output
    code, output = run("exec-doc", "validate", document, "--dag", DAG, "-c", migrated[project])
    assert code == 0, output
    lines = output.splitlines()
    assert lines[-1] == f"ok: {document} is a valid execution document"
    notes = [line for line in lines if line.startswith("note: ")]
    # 4 Cradle request parts for each of 2 loading steps, 12 registry fields of Registration-NA
    assert len(notes) == 20 and len(lines) == 21
    assert (
        "note: step 'CradleDataLoading-Training' (node 'CradleDataLoading_training'): "
        "'transformSpecification' is part of the Cradle request, kept in transform_spec; the "
        "node reads its data_source"
    ) in lines
    assert (
        "note: step 'Registration-NA' (node 'Registration'): 'model_domain' is ignored: MIMS "
        "registry metadata; Cursus registers under model_name"
    ) in lines


def test_applying_a_public_document_keeps_the_cradle_request_and_changes_no_job(
    migrated: dict[str, Path],
) -> None:
    document = json.loads((FIXTURES / "atoz_xgboost.execute_doc.json").read_text())
    dag = load_dag(DAG)
    configs = load_configs(migrated["atoz_xgboost"], dag)
    applied = apply_execution_document(configs, document)
    request = document["PIPELINE_STEP_CONFIGS"]["CradleDataLoading-Training"]["STEP_CONFIG"]
    loading = applied["CradleDataLoading_training"]
    assert loading.transform_spec == request["transformSpecification"]
    assert loading.data_source == SOURCES["CradleDataLoading_training"]
    assert applied["Registration"] == configs["Registration"]  # its fields change nothing here
    # so a deployed pipeline can start with it: nothing it fixes differs
    assert runtime_differences(document, compile_plan(dag, configs)) == []


def test_documents_in_the_first_systems_step_names_are_generated_and_read_back(
    migrated: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "doc.json"
    code, output = run(
        "exec-doc", "generate", DAG, "-c", migrated["atoz_xgboost"], "--step-names", "sagemaker",
        "-o", out,
    )  # fmt: skip
    assert code == 0, output
    doc = json.loads(out.read_text())
    assert set(doc["PIPELINE_STEP_CONFIGS"]) == {
        "CradleDataLoading-Training",
        "CradleDataLoading-Calibration",
        "TabularPreprocessing-Training",
        "TabularPreprocessing-Calibration",
        "XGBoostTraining",
        "XGBoostModelEval-Calibration",
        "ModelCalibration-Calibration",
        "Package",
        "Payload",
        "Registration-NA",
    }
    code, output = run("exec-doc", "validate", out, "--dag", DAG, "-c", migrated["atoz_xgboost"])
    assert (code, output.splitlines()[-1]) == (0, f"ok: {out} is a valid execution document")


def test_step_keys_in_both_styles_name_their_nodes() -> None:
    nodes = ["CradleDataLoading_training", "Registration", "Package"]
    assert step_node("CradleDataLoading_training", nodes) == "CradleDataLoading_training"
    assert step_node("CradleDataLoading-Training", nodes) == "CradleDataLoading_training"
    assert step_node("Registration-NA", nodes) == "Registration"
    assert step_node("Registration-eu-west-1", nodes, "eu-west-1") == "Registration"
    assert step_node("Registration-RegisterModel", nodes) == "Registration"
    assert step_node("Registration-XX", nodes) is None
    assert step_node("Package-Training", nodes) is None


def test_an_unknown_step_or_field_in_a_first_system_document_is_still_an_error(
    migrated: dict[str, Path],
) -> None:
    document = json.loads((FIXTURES / "atoz_xgboost.execute_doc.json").read_text())
    steps = document["PIPELINE_STEP_CONFIGS"]
    steps["Registration-NA"]["STEP_CONFIG"]["colour"] = "blue"
    steps["Ghost-Training"] = {"STEP_CONFIG": {}, "STEP_TYPE": "PROCESSING_STEP"}
    plan = compile_plan(load_dag(DAG), migrated["atoz_xgboost"])
    problems = validate_execution_document(document, plan, source="doc.json")
    assert problems == [
        "doc.json: step 'Registration-NA' (node 'Registration'), unknown field 'colour' for "
        "RegistrationConfig",
        f"doc.json: step 'Ghost-Training' is not in the pipeline (steps: "
        f"{', '.join(s.name for s in plan.steps)})",
    ]
    assert generate_execution_document(plan)["PIPELINE_STEP_CONFIGS"]  # node names by default
