"""Execution documents: the run-time configuration of each step, as MODS reads it.

{"PIPELINE_STEP_CONFIGS": {"<step>": {"STEP_CONFIG": {...}, "STEP_TYPE": ["<StepType>", "<job kind>"]}},
 "PIPELINE_ADDITIONAL_PARAMS": {...pipeline metadata and parameters...}}

A document is generated from a compiled Plan, validated against a JSON Schema, and accepted by
the local runner (its STEP_CONFIG values override the config) and by SageMaker starts. Values
whose key names a secret never appear in a document.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cursus.errors import ConfigError
from cursus.files import read_json_file
from cursus.plan import Plan

SECRET_KEY = re.compile(
    r"(secret|password|passwd|token|api[_-]?key|credential|private[_-]?key)", re.IGNORECASE
)
# structural fields: changing them changes the pipeline's shape, not a run
NOT_RUNTIME = {"class", "job_type", "input_bindings", "pipeline_name", "pipeline_version", "author"}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Cursus execution document",
    "type": "object",
    "required": ["PIPELINE_STEP_CONFIGS", "PIPELINE_ADDITIONAL_PARAMS"],
    "additionalProperties": False,
    "properties": {
        "PIPELINE_STEP_CONFIGS": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "object",
                "required": ["STEP_CONFIG", "STEP_TYPE"],
                "additionalProperties": False,
                "properties": {
                    "STEP_CONFIG": {"type": "object"},
                    "STEP_TYPE": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                },
            },
        },
        "PIPELINE_ADDITIONAL_PARAMS": {"type": "object"},
    },
}


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items() if not SECRET_KEY.search(str(k))}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def generate_execution_document(plan: Plan) -> dict[str, Any]:
    steps = {
        step.name: {
            "STEP_CONFIG": _redact({k: v for k, v in step.config.items() if k not in NOT_RUNTIME}),
            "STEP_TYPE": [step.step_type, step.job_kind],
        }
        for step in plan.steps
    }
    params = _redact({**plan.pipeline, "parameters": plan.parameters})
    return {"PIPELINE_STEP_CONFIGS": steps, "PIPELINE_ADDITIONAL_PARAMS": params}


def validate_execution_document(
    doc: Any, plan: Plan | None = None, source: str = "<document>"
) -> list[str]:
    """Every problem with a document, as messages naming the field; empty when it is valid."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(SCHEMA)
    problems = [
        f"{source}: field '{'.'.join(str(p) for p in err.absolute_path) or '(top level)'}': {err.message}"
        for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    ]
    if problems or plan is None:
        return problems
    known = {s.name: s for s in plan.steps}
    for name, section in doc["PIPELINE_STEP_CONFIGS"].items():
        if name not in known:
            problems.append(
                f"{source}: step '{name}' is not in the pipeline (steps: {', '.join(known)})"
            )
            continue
        config_class = _config_class(known[name].config["class"])
        for key in section["STEP_CONFIG"]:
            if key in NOT_RUNTIME:
                problems.append(
                    f"{source}: step '{name}', field '{key}' shapes the pipeline; change it in the config"
                )
            elif key not in config_class.model_fields:
                problems.append(
                    f"{source}: step '{name}', unknown field '{key}' for {config_class.__name__}"
                )
    return problems


def _config_class(name: str) -> Any:
    from cursus.steps.library import step_library

    return step_library().config_classes()[name]


def load_execution_document(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    doc = read_json_file(path, ConfigError, "execution document")
    problems = validate_execution_document(doc, source=str(path))
    if problems:
        raise ConfigError(
            problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )
    return doc


def apply_execution_document(
    configs: dict[str, Any], doc: dict[str, Any], source: str = "<document>"
) -> dict[str, Any]:
    """New config objects with the document's run-time values; the originals stay as they were."""
    updated = dict(configs)
    for name, section in doc["PIPELINE_STEP_CONFIGS"].items():
        if name not in configs:
            raise ConfigError(f"{source}: step '{name}' is not in the pipeline")
        values = {k: v for k, v in section["STEP_CONFIG"].items() if k not in NOT_RUNTIME}
        current = configs[name]
        unknown = [k for k in values if k not in type(current).model_fields]
        if unknown:
            raise ConfigError(
                f"{source}: step '{name}', unknown field '{unknown[0]}' for {type(current).__name__}"
            )
        try:
            updated[name] = type(current).model_validate({**current.model_dump(), **values})
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"{source}: step '{name}', field '{field}': {err['msg']}") from None
    return updated


def runtime_differences(doc: dict[str, Any], plan: Plan) -> list[str]:
    """Step values in `doc` that differ from what `plan` (the deployed pipeline) was compiled with."""
    current = generate_execution_document(plan)["PIPELINE_STEP_CONFIGS"]
    return [
        f"step '{name}', field '{key}'"
        for name, section in doc["PIPELINE_STEP_CONFIGS"].items()
        for key, value in section["STEP_CONFIG"].items()
        if name in current and current[name]["STEP_CONFIG"].get(key) != value
    ]


def start_pipeline_execution(
    pipeline: Any,
    execution_document: dict[str, Any] | str | Path,
    config_path: str | Path | None = None,
    region: str | None = None,
    session: Any = None,
) -> dict[str, Any]:
    """Start a deployed SageMaker pipeline with an execution document.

    The document's `PIPELINE_ADDITIONAL_PARAMS.parameters` become the execution's pipeline
    parameters. Step values are compiled into a SageMaker definition, so with `config_path` given a
    document whose step values differ from the config is refused (redeploy to change them); the
    local runner applies step values directly (`cursus run --exec-doc`).
    """
    from cursus.backends.sagemaker import start_pipeline as start

    doc = (
        execution_document
        if isinstance(execution_document, dict)
        else load_execution_document(execution_document)
    )
    problems = validate_execution_document(doc)
    if problems:
        raise ConfigError(problems[0])
    name, config_region = pipeline, None
    if config_path is not None:
        from cursus.api.loading import load_dag
        from cursus.core.planner import compile_plan

        plan = compile_plan(load_dag(pipeline), config_path)
        name, config_region = plan.pipeline["pipeline_name"], plan.pipeline.get("region")
        changed = runtime_differences(doc, plan)
        if changed:
            raise ConfigError(
                f"the execution document changes {', '.join(changed[:3])}"
                f"{' and more' if len(changed) > 3 else ''}, which the deployed SageMaker definition fixes; "
                "change the config and redeploy, or run it locally with `cursus run --exec-doc`"
            )
    parameters = {
        k: v
        for k, v in (doc["PIPELINE_ADDITIONAL_PARAMS"].get("parameters") or {}).items()
        if v is not None
    }
    return start(name, parameters, region=region or config_region, session=session)
