"""The checks every compiled definition passes: references, the dependency graph, names."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from _sagemaker_support import BUNDLED_DAGS, steps_by_name

from cursus.backends.sagemaker import DefinitionError, check_definition
from cursus.backends.sagemaker.checks import raise_for_definition

EVAL_MODEL = "XGBoostModelEval_calibration"


@pytest.mark.parametrize("dag", BUNDLED_DAGS)
def test_bundled_definitions_pass_every_check(
    compiled: dict[str, Any], definitions: dict[str, Any], dag: str
) -> None:
    assert check_definition(definitions[dag], compiled[dag].plan) == []


def _references(value: Any) -> list[str]:
    text = json.dumps(value)
    return [part.split('"')[0] for part in text.split('{"Get": "')[1:]]


@pytest.mark.parametrize("dag", BUNDLED_DAGS)
def test_every_reference_names_a_step_and_an_output_it_has(
    definitions: dict[str, Any], dag: str
) -> None:
    steps = steps_by_name(definitions[dag])
    for step in definitions[dag]["Steps"]:
        for ref in _references(step):
            if not ref.startswith("Steps."):
                continue
            producer = steps[ref.split(".")[1]]
            if producer["Type"] == "Processing":
                outputs = producer["Arguments"]["ProcessingOutputConfig"]["Outputs"]
                assert any(f"Outputs['{o['OutputName']}']" in ref for o in outputs)


@pytest.mark.parametrize("dag", BUNDLED_DAGS)
def test_dependency_graph_equals_the_dag_edges(
    compiled: dict[str, Any], definitions: dict[str, Any], dag: str
) -> None:
    """Folded onto nodes, the references of the definition are exactly the DAG's edges."""
    edges = set()
    for step in definitions[dag]["Steps"]:
        consumer = step["Name"].split("-")[0]
        for ref in _references(step):
            if ref.startswith("Steps."):
                producer = ref.split(".")[1].split("-")[0]
                edges.add((producer, consumer))
        assert "DependsOn" not in step  # every edge of the bundled DAGs carries data
    assert edges == {tuple(e) for e in compiled[dag].plan.dag["edges"]}


def _mutated(definitions: dict[str, Any], change: Any) -> dict[str, Any]:
    definition = copy.deepcopy(definitions["xgboost_e2e"])
    change(steps_by_name(definition), definition)
    return definition


def _model_input(steps: dict[str, Any]) -> dict[str, Any]:
    inputs = steps[EVAL_MODEL]["Arguments"]["ProcessingInputs"]
    return next(i for i in inputs if i["InputName"] == "model_input")["S3Input"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda steps, d: _model_input(steps).update(
                S3Uri={"Get": "Steps.Nowhere.ModelArtifacts.S3ModelArtifacts"}
            ),
            "there is no step Nowhere",
        ),
        (
            lambda steps, d: _model_input(steps).update(
                S3Uri={
                    "Get": "Steps.TabularPreprocessing_training.ProcessingOutputConfig."
                    "Outputs['model'].S3Output.S3Uri"
                }
            ),
            "reads output 'model' of TabularPreprocessing_training",
        ),
        (
            lambda steps, d: _model_input(steps).update(
                S3Uri={"Get": "Steps.XGBoostTraining.ModelArtifactz"}
            ),
            "reads ModelArtifactz of XGBoostTraining, which a Training step does not have",
        ),
        (
            lambda steps, d: _model_input(steps).update(S3Uri="s3://bucket/model.tar.gz"),
            "XGBoostModelEval_calibration reads data of XGBoostTraining, but no step",
        ),
        (
            lambda steps, d: steps["Payload"].update(DependsOn=["DataLoading_training"]),
            "Payload depends on DataLoading_training in the definition, but the DAG has no such",
        ),
        (
            lambda steps, d: steps["Payload"].update(DependsOn=["Ghost"]),
            "depends on Ghost, which is not a step",
        ),
        (
            lambda steps, d: steps["Package"]["Arguments"]["ProcessingOutputConfig"]["Outputs"][0][
                "S3Output"
            ].update(S3Uri={"Get": "Parameters.Missing"}),
            "reads undeclared parameter Missing",
        ),
        (
            lambda steps, d: steps["Package"].update(Name="Package" + "x" * 60),
            "is not 1-64 letters, digits",
        ),
        (
            lambda steps, d: d["Steps"].append(copy.deepcopy(steps["Payload"])),
            "step name Payload is used by more than one step",
        ),
    ],
)
def test_broken_definitions_are_reported(
    compiled: dict[str, Any], definitions: dict[str, Any], change: Any, expected: str
) -> None:
    definition = _mutated(definitions, change)
    problems = check_definition(definition, compiled["xgboost_e2e"].plan)
    assert any(expected in p for p in problems), problems
    with pytest.raises(DefinitionError, match=r"inconsistent|problems"):
        raise_for_definition(definition, compiled["xgboost_e2e"].plan)


def test_pipeline_name_over_sagemaker_limits_is_reported(
    compiled: dict[str, Any], definitions: dict[str, Any]
) -> None:
    plan = copy.deepcopy(compiled["xgboost_simple"].plan)
    plan.pipeline["pipeline_name"] = "bad_name!"
    problems = check_definition(definitions["xgboost_simple"], plan)
    assert any("pipeline name 'bad_name!'" in p for p in problems)
