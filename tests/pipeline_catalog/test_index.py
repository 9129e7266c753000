"""The index: index.json is what the code says, in the shape its schema says."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cursus.pipeline_catalog import CatalogError, get_entry, get_pipeline, task_view
from cursus.pipeline_catalog.index import (
    INDEX_PATH,
    SCHEMA_PATH,
    build_index,
    catalog_pipelines,
    check_index,
    load_index,
    pipeline_ids,
    write_index,
)


@pytest.fixture
def index() -> dict[str, Any]:
    return copy.deepcopy(load_index())


def test_the_index_agrees_with_the_code_and_its_schema() -> None:
    """Fails when a pipeline module or shared DAG changed and `cursus catalog index --write`
    was not run."""
    assert check_index() == []
    assert json.loads(INDEX_PATH.read_text()) == build_index()


def test_write_index_writes_what_the_code_says(tmp_path: Path) -> None:
    path = write_index(tmp_path / "index.json")
    assert path.read_text() == INDEX_PATH.read_text()


def test_every_shape_has_a_standard_and_a_mods_pipeline(index: dict[str, Any]) -> None:
    for dag_id in index["shared_dags"]:
        kinds = sorted(e["compiler_type"] for e in index["pipelines"] if e["shared_dag"] == dag_id)
        assert kinds == ["mods", "standard"], dag_id
    mods = get_entry("xgboost_complete_e2e_mods")
    assert mods["variant_of"] == "xgboost_complete_e2e"
    assert mods["mods_metadata"] == {
        "author": "cursus-catalog",
        "version": "1.0.0",
        "description": "XGBoost end to end: train on one dataset, evaluate and calibrate on "
        "another, package, generate payloads, register",
        "template_name": "XgboostCompleteE2eTemplate",
    }
    assert "mods_metadata" not in get_entry("xgboost_complete_e2e")


def test_task_views_point_at_pipelines_by_what_their_steps_do() -> None:
    registering = sorted(
        p.id
        for p in catalog_pipelines()
        if p.compiler_type == "standard" and "Registration" in p.create_dag().nodes
    )
    assert task_view("registration", "standard") == registering
    assert {"model_deployment", "pretrained_model_e2e", "xgboost_percentile_e2e"} <= set(
        registering
    )
    assert task_view("registration", "mods") == [
        f"{i}_mods" for i in task_view("registration", "standard")
    ]
    assert "xgboost_simple" in task_view("training") and "model_deployment" not in task_view(
        "training"
    )
    assert task_view("evaluation", "mods") == [
        "lightgbm_complete_e2e_mods",
        "lightgbm_complete_e2e_with_percentile_calibration_mods",
        "pytorch_complete_e2e_mods",
        "pytorch_standard_e2e_mods",
        "pytorch_stratified_percentile_e2e_mods",
        "xgboost_complete_e2e_mods",
        "xgboost_complete_e2e_with_testing_mods",
        "xgboost_inference_with_wiki_mods",
        "xgboost_multiclass_e2e_mods",
        "xgboost_percentile_e2e_mods",
        "xgboost_regression_e2e_mods",
        "xgboost_standard_e2e_mods",
        "xgboost_training_calibration_mods",
        "xgboost_training_evaluation_mods",
        "xgboost_training_with_feature_selection_mods",
        "xgboost_training_with_preprocessing_mods",
        "xgboost_training_with_stratified_mods",
    ]
    # a regressor's output is a value, not a probability: nothing to calibrate
    assert task_view("calibration", "standard") == [
        "lightgbm_complete_e2e",
        "lightgbm_complete_e2e_with_percentile_calibration",
        "pytorch_complete_e2e",
        "pytorch_stratified_percentile_e2e",
        "xgboost_complete_e2e",
        "xgboost_complete_e2e_with_testing",
        "xgboost_inference_with_wiki",
        "xgboost_multiclass_e2e",
        "xgboost_percentile_e2e",
        "xgboost_training_calibration",
    ]
    with pytest.raises(CatalogError, match="no task view 'serving'; views: training, evaluation"):
        task_view("serving")


def test_schema_problems_name_the_field(index: dict[str, Any]) -> None:
    index["pipelines"][0]["compiler_type"] = "airflow"
    del index["pipelines"][1]["task"]
    index["pipelines"][2]["mods_metadata"] = {"author": "a"}
    problems = check_index(index)
    assert any(
        p.startswith("index field 'pipelines[0].compiler_type': 'airflow' is not one of")
        for p in problems
    )
    assert "index field 'pipelines[1]': 'task' is a required property" in problems
    assert any(p.startswith("index field 'pipelines[2]'") for p in problems)


def test_mods_entries_need_mods_metadata(index: dict[str, Any]) -> None:
    entry = next(e for e in index["pipelines"] if e["compiler_type"] == "mods")
    del entry["mods_metadata"]
    assert any("'mods_metadata' is a required property" in p for p in check_index(index))


def test_cross_checks_against_the_code(index: dict[str, Any]) -> None:
    simple = next(e for e in index["pipelines"] if e["id"] == "xgboost_simple")
    simple["node_count"] = 4
    mods = next(e for e in index["pipelines"] if e["id"] == "xgboost_simple_mods")
    mods["mods_metadata"]["version"] = "2.0.0"
    index["pipelines"].append({**simple, "id": "xgboost_ghost"})
    index["pipelines"] = [e for e in index["pipelines"] if e["id"] != "pytorch_training_mods"]
    index["views"]["training"]["mods"].remove("xgboost_simple_mods")
    problems = check_index(index)
    fix = "; run `cursus catalog index --write`"
    assert f"pipeline 'xgboost_simple': index says node_count=4, the code says 3{fix}" in problems
    assert (
        "pipeline 'xgboost_simple_mods': index says mods_metadata="
        '{"author": "cursus-catalog", "version": "2.0.0"' in "\n".join(problems)
    )
    assert f"index lists 'xgboost_ghost', which no pipeline module defines{fix}" in problems
    assert any(
        p.startswith("pipeline 'pytorch_training_mods' (cursus.pipeline_catalog") for p in problems
    )
    assert f"index task views differ from the pipelines' steps{fix}" in problems


def test_unknown_ids_list_the_ids_there_are() -> None:
    with pytest.raises(CatalogError) as info:
        get_entry("xgboost_simpel")
    message = str(info.value)
    assert "no catalog pipeline 'xgboost_simpel'; did you mean 'xgboost_simple'?" in message
    assert "model_deployment, model_deployment_mods, pretrained_model_e2e" in message
    with pytest.raises(
        CatalogError,
        match="'xgboost_e2e' is a bundled DAG; its catalog pipelines are xgboost_complete_e2e, xgboost_complete_e2e_mods",
    ):
        get_entry("xgboost_e2e")
    assert info.value.exit_code == 2


def test_a_standard_id_where_a_mods_one_is_needed() -> None:
    with pytest.raises(CatalogError) as info:
        get_entry("xgboost_simple", compiler_type="mods")
    mods = sorted(i for i in pipeline_ids() if i.endswith("_mods"))
    assert len(mods) == len(pipeline_ids()) // 2  # every standard pipeline has its MODS twin
    assert str(info.value) == (
        "catalog pipeline 'xgboost_simple' is standard, not mods; mods pipelines: "
        + ", ".join(mods)
    )


def test_get_pipeline_imports_the_module_the_index_names() -> None:
    pipeline = get_pipeline("pytorch_training_mods")
    assert (pipeline.id, pipeline.compiler_type, pipeline.variant_of) == (
        "pytorch_training_mods",
        "mods",
        "pytorch_training",
    )
    from cursus.pipeline_catalog.mods_pipelines import pytorch_training_mods

    assert pytorch_training_mods.create_dag().to_dict() == pipeline.create_dag().to_dict()


def test_the_schema_is_a_valid_json_schema() -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_PATH.read_text()))
