"""Execution documents: the run-time configuration of each step, as MODS reads it.

{"PIPELINE_STEP_CONFIGS": {"<step>": {"STEP_CONFIG": {...}, "STEP_TYPE": ["<StepType>", "<job kind>"]}},
 "PIPELINE_ADDITIONAL_PARAMS": {...pipeline metadata and parameters...}}

A document is generated from a compiled Plan, validated against a JSON Schema, and accepted by
the local runner (its STEP_CONFIG values override the config) and by SageMaker starts. Values
whose key names a secret never appear in a document.

Documents of the first system that did this job are accepted as they are: steps keyed by their
SageMaker step names (`CradleDataLoading-Training` for node `CradleDataLoading_training`,
`Registration-NA` for node `Registration`), STEP_TYPE a string or a list, a Cradle step's
STEP_CONFIG the Cradle request (kept in the node's job spec fields), and the registration fields
of its model registry, which change nothing Cursus runs (each noted when a document is checked).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cursus.errors import ConfigError
from cursus.files import read_json_file
from cursus.plan import Plan
from cursus.redaction import is_secret_name, redact_text

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
                    # the first system writes a string ("TRAINING_STEP") for some steps
                    "STEP_TYPE": {
                        "anyOf": [
                            {"type": "string", "minLength": 1},
                            {"type": "array", "items": {"type": "string"}, "minItems": 1},
                        ]
                    },
                },
            },
        },
        # the first system writes [] when it has none
        "PIPELINE_ADDITIONAL_PARAMS": {"type": ["object", "array"]},
    },
}


def _redact(value: Any, secrets: Collection[str] = ()) -> Any:
    """A document never carries a secret: secret keys are left out, URL passwords hidden."""
    if isinstance(value, dict):
        return {k: _redact(v, secrets) for k, v in value.items() if not is_secret_name(k, secrets)}
    if isinstance(value, list):
        return [_redact(v, secrets) for v in value]
    return redact_text(value) if isinstance(value, str) else value


def generate_execution_document(plan: Plan, step_names: str = "node") -> dict[str, Any]:
    """`step_names`: "node" keys steps by node name; "sagemaker" by the first system's SageMaker
    step names (`CradleDataLoading-Training`, `Registration-NA`), as its tools expect."""
    if step_names not in ("node", "sagemaker"):
        raise ConfigError(f"step_names is {step_names!r}; use node or sagemaker")
    region = plan.pipeline.get("region")
    steps = {
        (step.name if step_names == "node" else sagemaker_step_name(step.name, region)): {
            "STEP_CONFIG": _redact(
                {k: v for k, v in step.config.items() if k not in NOT_RUNTIME}, step.secrets
            ),
            "STEP_TYPE": [step.step_type, step.job_kind],
        }
        for step in plan.steps
    }
    params = _redact({**plan.pipeline, "parameters": plan.parameters})
    return {"PIPELINE_STEP_CONFIGS": steps, "PIPELINE_ADDITIONAL_PARAMS": params}


# a Cradle step's STEP_CONFIG is the Cradle request; its parts are the node's job spec fields
CRADLE_REQUEST = {
    "dataSources": "data_sources_spec",
    "transformSpecification": "transform_spec",
    "outputSpecification": "output_spec",
    "cradleJobSpecification": "cradle_job_spec",
}
# registration fields of the first system's model registry that Cursus's registration has no use
# for: the image follows the framework, the region follows the config
FIRST_SYSTEM_REGISTRATION = {
    "source_model_inference_image_arn": "Cursus picks the image from the model's framework",
    "source_model_region": "follows the config's region",
    "model_registration_region": "follows the config's region",
    "source_model_environment_variable_map": "Cursus sets the serving environment itself",
    "load_testing_info_map": "a MIMS load-test target; Cursus runs no load test",
}


def _ignored_fields() -> dict[str, str]:
    """First-system fields a document may carry that change nothing Cursus runs, and why."""
    from cursus.core.migrate import DERIVED, NO_EFFECT

    return {**DERIVED, **NO_EFFECT, **FIRST_SYSTEM_REGISTRATION}


def step_node(key: str, nodes: list[str], region: str | None = None) -> str | None:
    """The node a document's step key names: the node name itself, or the first system's
    SageMaker step name (`Type-Jobtype` for node `Type_jobtype`, `Type-<region code>` for node
    `Type`, and our definition's `-Model-CreateModel` / `-RegisterModel` steps)."""
    if key in nodes:
        return key
    for suffix in ("-Model-CreateModel", "-RegisterModel"):
        if key.endswith(suffix) and key[: -len(suffix)] in nodes:
            return key[: -len(suffix)]
    regions = _region_names(region)
    for node in nodes:
        if key.startswith(node + "-") and key[len(node) + 1 :] in regions:
            return node
    head, sep, tail = key.rpartition("-")
    if sep and f"{head}_{tail.lower()}" in nodes:
        return f"{head}_{tail.lower()}"
    return None


def _region_names(region: str | None) -> set[str]:
    from cursus.steps.configs import FIRST_SYSTEM_REGIONS

    names = set(FIRST_SYSTEM_REGIONS)  # a document names the region the pipeline was built for
    if region:
        names.add(region)
    return names


def sagemaker_step_name(node: str, region: str | None = None) -> str:
    """The first system's name for node's step: `Type-Jobtype`, or `Registration-<code>`."""
    from cursus.steps.configs import FIRST_SYSTEM_REGIONS
    from cursus.steps.library import step_library

    step_type, job_type = step_library().split_node_name(node)
    if job_type:
        return f"{step_type}-{job_type.capitalize()}"
    if step_type == "Registration":
        codes = {aws: code for code, aws in FIRST_SYSTEM_REGIONS.items()}
        return f"{step_type}-{codes.get(region or '', region or 'NA')}"
    return node


def validate_execution_document(
    doc: Any,
    plan: Plan | None = None,
    source: str = "<document>",
    notes: list[str] | None = None,
) -> list[str]:
    """Every problem with a document, as messages naming the field; empty when it is valid.
    Fields that are accepted but change nothing Cursus runs are added to `notes` when given."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(SCHEMA)
    problems = [
        f"{source}: field '{'.'.join(str(p) for p in err.absolute_path) or '(top level)'}': {err.message}"
        for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    ]
    if problems or plan is None:
        return problems
    known = {s.name: s for s in plan.steps}
    ignored = _ignored_fields()
    for name, section in doc["PIPELINE_STEP_CONFIGS"].items():
        node = step_node(name, list(known), plan.pipeline.get("region"))
        if node is None:
            problems.append(
                f"{source}: step '{name}' is not in the pipeline (steps: {', '.join(known)})"
            )
            continue
        where = f"step '{name}'" + (f" (node '{node}')" if node != name else "")
        config_class = _config_class(known[node].config["class"])
        for key in section["STEP_CONFIG"]:
            if key in NOT_RUNTIME:
                problems.append(
                    f"{source}: {where}, field '{key}' shapes the pipeline; change it in the config"
                )
            elif key in config_class.model_fields:
                continue
            elif key in CRADLE_REQUEST and CRADLE_REQUEST[key] in config_class.model_fields:
                if notes is not None:
                    notes.append(
                        f"{where}: '{key}' is part of the Cradle request, kept in "
                        f"{CRADLE_REQUEST[key]}; the node reads its data_source"
                    )
            elif key in ignored:
                if notes is not None:
                    notes.append(f"{where}: '{key}' is ignored: {ignored[key]}")
            else:
                problems.append(
                    f"{source}: {where}, unknown field '{key}' for {config_class.__name__}"
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
    """New config objects with the document's run-time values; the originals stay as they were.
    A first-system document's ignored fields (see validate_execution_document) are left out."""
    updated = dict(configs)
    ignored = _ignored_fields()
    region = next((getattr(c, "region", None) for c in configs.values()), None)
    for name, section in doc["PIPELINE_STEP_CONFIGS"].items():
        node = step_node(name, list(configs), region)
        if node is None:
            raise ConfigError(f"{source}: step '{name}' is not in the pipeline")
        current = configs[node]
        fields = type(current).model_fields
        values: dict[str, Any] = {}
        for key, value in section["STEP_CONFIG"].items():
            if key in NOT_RUNTIME:
                continue
            if key in CRADLE_REQUEST and CRADLE_REQUEST[key] in fields:
                values[CRADLE_REQUEST[key]] = value
            elif key in fields:
                values[key] = value
            elif key not in ignored:
                raise ConfigError(
                    f"{source}: step '{name}', unknown field '{key}' for {type(current).__name__}"
                )
        try:
            updated[node] = type(current).model_validate({**current.model_dump(), **values})
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"{source}: step '{name}', field '{field}': {err['msg']}") from None
    return updated


def runtime_differences(doc: dict[str, Any], plan: Plan) -> list[str]:
    """Step values in `doc` that differ from what `plan` (the deployed pipeline) was compiled with."""
    current = generate_execution_document(plan)["PIPELINE_STEP_CONFIGS"]
    unused = {**_ignored_fields(), **CRADLE_REQUEST}  # values no job reads
    changed = []
    for name, section in doc["PIPELINE_STEP_CONFIGS"].items():
        node = step_node(name, list(current), plan.pipeline.get("region"))
        for key, value in section["STEP_CONFIG"].items():
            if node is None or key in unused:
                continue
            if current[node]["STEP_CONFIG"].get(key) != value:
                changed.append(f"step '{name}', field '{key}'")
    return changed


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
