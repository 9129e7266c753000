"""Checks on a compiled definition that SageMaker would make only at create or run time.

The local AWS stand-in accepts any definition, and SageMaker itself reports a dangling reference
only when the pipeline is created or the step starts; these checks run on every compile:

- every `{"Get": "Steps.X.<property>"}` names a step of the definition and a property that step
  has (a processing output it declares, a training job's model artifacts, ...), every
  `{"Get": "Parameters.P"}` a declared parameter, every `{"Get": "Execution.V"}` a real variable;
- the dependency graph (from those references and from DependsOn), folded onto DAG nodes, has
  exactly the DAG's edges: the ones carrying data as references, the rest as DependsOn;
- the pipeline and step names fit SageMaker's patterns and length limits;
- each step's Arguments are a request SageMaker accepts for the call the step makes
  (CreateProcessingJob, CreateTrainingJob, ...), by botocore's model of the API (see shapes.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from cursus.backends.sagemaker import shapes
from cursus.backends.sagemaker.errors import DefinitionError
from cursus.backends.sagemaker.preflight import (
    MAX_STEP_NAME,
    PIPELINE_NAME,
    STEP_NAME,
    STEP_SUFFIXES,
)
from cursus.plan import Plan

EXECUTION_VARIABLES = {
    "PipelineExecutionId",
    "PipelineExecutionArn",
    "PipelineName",
    "PipelineArn",
    "StartDateTime",
    "CurrentDateTime",
}
_PROCESSING_OUTPUT = re.compile(r"^ProcessingOutputConfig\.Outputs\['([^']+)'\]\.S3Output\.S3Uri$")
# properties a step of each type exposes, beyond its processing outputs
STEP_PROPERTIES = {
    "Processing": {"ProcessingJobName", "ProcessingJobArn", "ProcessingJobStatus"},
    "Training": {
        "ModelArtifacts.S3ModelArtifacts",
        "OutputDataConfig.S3OutputPath",
        "TrainingJobName",
        "TrainingJobArn",
        "TrainingJobStatus",
    },
    "Model": {"ModelName", "ModelArn"},
    "RegisterModel": {"ModelPackageArn", "ModelPackageName", "ModelPackageVersion"},
}


def check_definition(definition: dict[str, Any], plan: Plan) -> list[str]:
    """Every problem of `definition` (compiled from `plan`), as messages; [] when it is sound."""
    steps = definition.get("Steps", [])
    by_name = {s.get("Name"): s for s in steps}
    problems = _check_names(plan, steps)
    parameters = {p.get("Name") for p in definition.get("Parameters", [])}
    edges: set[tuple[str, str]] = set()
    order: set[tuple[str, str]] = set()
    for step in steps:
        for reference in _references(step):
            problem = _check_reference(step["Name"], reference, by_name, parameters)
            if problem:
                problems.append(problem)
            elif reference.startswith("Steps."):
                edges.add((reference.split(".")[1], step["Name"]))
        for dependency in step.get("DependsOn", []):
            if dependency not in by_name:
                problems.append(f"step {step['Name']} depends on {dependency}, which is not a step")
            else:
                order.add((dependency, step["Name"]))
    problems += _check_graph(plan, edges, order)
    meta = plan.pipeline
    problems += [
        str(p)
        for p in shapes.check_steps(
            definition, str(meta.get("pipeline_name")), str(meta.get("region") or "us-east-1")
        )
    ]
    return problems


def raise_for_definition(definition: dict[str, Any], plan: Plan) -> None:
    """Every problem of the definition at once, as one DefinitionError (the compile stops)."""
    problems = check_definition(definition, plan)
    if problems:
        raise DefinitionError(problems)


# ---------------------------------------------------------------- names


def definition_steps(plan: Plan) -> dict[str, str]:
    """Definition step name -> the DAG node it comes from."""
    return {
        step.name + suffix: step.name
        for step in plan.steps
        for suffix in STEP_SUFFIXES.get(step.job_kind, ("",))
    }


def _check_names(plan: Plan, steps: list[dict[str, Any]]) -> list[str]:
    problems = []
    name = plan.pipeline.get("pipeline_name")
    if not PIPELINE_NAME.match(str(name)):
        problems.append(
            f"pipeline name {name!r} does not match SageMaker's ^[a-zA-Z0-9](-*[a-zA-Z0-9]){{0,255}}$"
        )
    names = [str(s.get("Name") or "") for s in steps]  # a step with no name is reported below
    for step_name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"step name {step_name} is used by more than one step")
    for step_name in names:
        if not STEP_NAME.match(str(step_name)):
            problems.append(
                f"step name {step_name!r} is not 1-{MAX_STEP_NAME} letters, digits, '-' and '_'"
            )
    expected = set(definition_steps(plan))
    missing, extra = sorted(expected - set(names)), sorted(set(names) - expected)
    if missing:
        problems.append(f"the definition lacks steps {missing} of the plan")
    if extra:
        problems.append(f"the definition has steps {extra} that no plan node accounts for")
    return problems


# ---------------------------------------------------------------- references


def _references(value: Any) -> Iterator[str]:
    """Every `{"Get": "..."}` inside a step, however deeply nested (Std:Join values included)."""
    if isinstance(value, dict):
        if set(value) == {"Get"} and isinstance(value["Get"], str):
            yield value["Get"]
            return
        for item in value.values():
            yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _check_reference(
    reader: str, reference: str, steps: dict[str, dict[str, Any]], parameters: set[str]
) -> str | None:
    scope, _, rest = reference.partition(".")
    if scope == "Parameters":
        return None if rest in parameters else f"step {reader} reads undeclared parameter {rest}"
    if scope == "Execution":
        if rest in EXECUTION_VARIABLES:
            return None
        return f"step {reader} reads unknown execution variable {rest}"
    if scope != "Steps":
        return f"step {reader} reads {reference}, which is neither a step, parameter nor variable"
    name, _, prop = rest.partition(".")
    if name not in steps:
        return f"step {reader} reads {reference}, but there is no step {name}"
    if name == reader:
        return f"step {reader} reads its own property {prop}"
    kind = steps[name].get("Type", "")
    if kind == "Processing":
        match = _PROCESSING_OUTPUT.match(prop)
        if match:
            declared = {
                o.get("OutputName")
                for o in steps[name]["Arguments"]
                .get("ProcessingOutputConfig", {})
                .get("Outputs", [])
            }
            if match.group(1) in declared:
                return None
            return (
                f"step {reader} reads output '{match.group(1)}' of {name}, which declares only "
                f"{sorted(declared)}"
            )
    if prop in STEP_PROPERTIES.get(kind, set()):
        return None
    return f"step {reader} reads {prop} of {name}, which a {kind or 'typeless'} step does not have"


# ---------------------------------------------------------------- dependency graph


def _check_graph(
    plan: Plan, references: set[tuple[str, str]], depends_on: set[tuple[str, str]]
) -> list[str]:
    """References must carry exactly the DAG's data edges; DependsOn exactly its other edges."""
    node_of = definition_steps(plan)

    def fold(edges: set[tuple[str, str]]) -> set[tuple[str, str]]:
        folded = {(node_of.get(a, a), node_of.get(b, b)) for a, b in edges}
        return {(a, b) for a, b in folded if a != b}

    data = {
        (b["from_step"], s.name) for s in plan.steps for b in s.inputs.values() if "from_step" in b
    }
    dag_edges = {tuple(e) for e in plan.dag.get("edges", [])}
    problems = []
    wired, ordered = fold(references), fold(depends_on)
    for a, b in sorted(data - wired):
        problems.append(f"{b} reads data of {a}, but no step of {b} references a step of {a}")
    for a, b in sorted(wired - data):
        problems.append(f"a step of {b} references {a}, but the plan binds no input of {b} to {a}")
    for a, b in sorted(dag_edges - wired - ordered):
        problems.append(f"the DAG edge {a} -> {b} is missing from the definition")
    for a, b in sorted(ordered - dag_edges):
        problems.append(f"{b} depends on {a} in the definition, but the DAG has no such edge")
    for a, b in sorted(wired - dag_edges):
        problems.append(f"{b} reads from {a}, but the DAG has no edge {a} -> {b}")
    return problems
