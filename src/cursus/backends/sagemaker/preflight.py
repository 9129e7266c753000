"""What SageMaker would refuse, checked on the Plan before the SDK is imported.

SageMaker validates most of a pipeline only when a job starts, hours into a run; these checks move
the refusals to compile time, each naming the node and config field to change. The limits are the
ones of the SageMaker API reference (CreatePipeline, CreateProcessingJob, CreateTrainingJob,
CreateModelPackage).
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

from cursus.backends.sagemaker.errors import SageMakerConfigError
from cursus.backends.sagemaker.instance_types import INSTANCE_FAMILIES, INSTANCE_TYPES
from cursus.errors import CursusError, ValidationFailed
from cursus.frameworks import FRAMEWORKS
from cursus.plan import Plan, PlanStep
from cursus.regions import sagemaker_regions

PIPELINE_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")
STEP_NAME = re.compile(r"^[A-Za-z0-9\-_]{1,64}$")
MAX_STEP_NAME = 64
MODEL_PACKAGE_GROUP = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/[\w+=,.@\-/]{1,512}$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
ENV_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,1023}$")
CHANNEL_NAME = re.compile(r"^[A-Za-z0-9.\-_]{1,64}$")
MAX_PROCESSING_ENV_VALUE = 256
MAX_TRAINING_ENV_VALUE = 512
MAX_ARGUMENT = 256
MAX_HYPERPARAMETER_VALUE = 2500

# The definition steps a node becomes, by job kind: `{node}` plus these suffixes.
STEP_SUFFIXES: dict[str, tuple[str, ...]] = {
    "processing": ("",),
    "training": ("",),
    "register": ("-Model-CreateModel", "-RegisterModel"),
}

TRAINING_CHANNEL_ROOT = "/opt/ml/input/data/"
TRAINING_OUTPUTS = ("/opt/ml/model", "/opt/ml/output/data")
PROCESSING_ROOT = "/opt/ml/processing/"
RESERVED_PROCESSING_INPUTS = {"code", "entrypoint"}


@dataclass(frozen=True)
class Target:
    """Where the pipeline goes: what every SageMaker call of this pipeline needs."""

    region: str
    role: str
    bucket: str
    pipeline_name: str


def check_plan(plan: Plan, role: str | None = None) -> Target:
    """Every problem SageMaker would have with `plan`, at once; the target when there are none.

    `role` overrides the config's role (PipelineDAGCompiler(role=...))."""
    problems: list[CursusError] = []
    target = _check_pipeline(plan, role, problems)
    _check_pipeline_requests(plan, role, problems)
    for step in plan.steps:
        _check_step(step, problems)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ValidationFailed(problems)
    assert target is not None
    return target


# ---------------------------------------------------------------- pipeline-level fields


def _check_pipeline(plan: Plan, role: str | None, problems: list[CursusError]) -> Target | None:
    """Region, role, bucket and pipeline name are shared by every node; errors name the first."""
    node = plan.steps[0].name if plan.steps else "pipeline"
    meta = plan.pipeline
    found = {
        "region": _check_region(node, meta.get("region"), problems),
        "role": _check_role(node, role or meta.get("role"), problems),
        "bucket": _check_bucket(node, meta.get("bucket"), problems),
        "pipeline_name": _check_pipeline_name(node, meta.get("pipeline_name"), problems),
    }
    if any(v is None for v in found.values()):
        return None
    return Target(**{k: str(v) for k, v in found.items()})  # none of them is None


def _shared(problem: str) -> str:
    return f'{problem} (a pipeline field: set it once under "shared" in the config)'


def _check_region(node: str, region: Any, problems: list[CursusError]) -> str | None:
    if not region:
        problems.append(
            SageMakerConfigError(
                node, "region", _shared("is not set; SageMaker needs an AWS region, e.g. us-east-1")
            )
        )
        return None
    known = sagemaker_regions() or frozenset()  # botocore comes with the sagemaker extra
    if region not in known:
        hint = difflib.get_close_matches(str(region), sorted(known), n=1)
        also = f"; did you mean {hint[0]}?" if hint else ""
        problems.append(
            SageMakerConfigError(
                node, "region", _shared(f"is {region!r}, not a region SageMaker runs in{also}")
            )
        )
        return None
    return str(region)


def _check_role(node: str, role: Any, problems: list[CursusError]) -> str | None:
    if not role:
        problems.append(
            SageMakerConfigError(
                node,
                "role",
                _shared(
                    "is not set; SageMaker runs every job as an IAM role: set "
                    '"role": "arn:aws:iam::<account>:role/<name>"'
                ),
            )
        )
        return None
    if not ROLE_ARN.match(str(role)):
        problems.append(
            SageMakerConfigError(
                node,
                "role",
                _shared(f"is {role!r}, not an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)"),
            )
        )
        return None
    return str(role)


def _check_bucket(node: str, bucket: Any, problems: list[CursusError]) -> str | None:
    if not bucket:
        problems.append(
            SageMakerConfigError(
                node,
                "bucket",
                _shared("is not set; SageMaker keeps code and step outputs in an S3 bucket"),
            )
        )
        return None
    text = str(bucket)
    if text.startswith("s3://"):
        problem = f"is {text!r}; give the bucket name alone, without s3:// or a path"
    elif not BUCKET.match(text) or ".." in text or re.fullmatch(r"[\d.]+", text):
        problem = (
            f"is {text!r}, not a valid S3 bucket name (3-63 lowercase letters, digits, '.' and "
            "'-', starting and ending with a letter or digit)"
        )
    else:
        return text
    problems.append(SageMakerConfigError(node, "bucket", _shared(problem)))
    return None


def _check_pipeline_name(node: str, name: Any, problems: list[CursusError]) -> str | None:
    if not name or not PIPELINE_NAME.match(str(name)):
        problems.append(
            SageMakerConfigError(
                node,
                "pipeline_name",
                _shared(
                    f"is {name!r}; SageMaker pipeline names are 1-256 letters, digits and "
                    "hyphens, starting and ending with a letter or digit"
                ),
            )
        )
        return None
    return str(name)


def _check_pipeline_requests(plan: Plan, role: str | None, problems: list[CursusError]) -> None:
    """The pipeline-level fields as SageMaker receives them, checked against its own request
    shapes (botocore's model): name, display name, role and description in CreatePipeline, and
    the description again as every registered model version's ModelPackageDescription (1,024
    characters, a third of what CreatePipeline takes). A field already reported is skipped."""
    from cursus.backends.sagemaker.shapes import CONFIG_FIELDS, check_request, member_problems

    meta = plan.pipeline
    first = plan.steps[0].name if plan.steps else "pipeline"
    reported = {p.field for p in problems if isinstance(p, SageMakerConfigError)}
    name, description = str(meta.get("pipeline_name") or ""), meta.get("pipeline_description")
    request = {
        "PipelineName": name,
        "PipelineDisplayName": name,  # what `deploy` sends
        "RoleArn": str(role or meta.get("role") or ""),
        "ClientRequestToken": "0" * 36,
        **({"PipelineDescription": str(description)} if description else {}),
    }
    found = [
        (step.name, problem)  # the tighter limit first
        for step in plan.steps
        if step.job_kind == "register" and description
        for problem in member_problems("CreateModelPackage", "ModelPackageDescription", description)
    ]
    found += [(first, p) for p in check_request("CreatePipeline", request, first)]
    for node, problem in found:
        field = CONFIG_FIELDS.get(problem.path, problem.path)
        if field in reported:
            continue
        reported.add(field)
        problems.append(
            SageMakerConfigError(
                node,
                field,
                _shared(f"{problem.observed}; {problem.wants} ({problem.path}): {problem.fix}"),
            )
        )


# ---------------------------------------------------------------- per node


def _check_step(step: PlanStep, problems: list[CursusError]) -> None:
    def refuse(field: str, problem: str) -> None:
        problems.append(SageMakerConfigError(step.name, field, problem))

    suffixes = STEP_SUFFIXES.get(step.job_kind)
    if suffixes is None:
        refuse(
            "job_kind",
            f"is {step.job_kind!r}; the SageMaker backend compiles job kinds "
            f"{', '.join(sorted(STEP_SUFFIXES))}",
        )
        return
    _check_step_name(step, suffixes, refuse)
    _check_instance_type(step.settings.instance_type, refuse)
    _check_external_inputs(step, refuse)
    if step.job_kind == "register":
        _check_model_package_group(step, refuse)
        return
    if step.framework not in FRAMEWORKS:
        refuse(
            "framework",
            f"(of the spec) is {step.framework!r}, which the framework table does not have; "
            f"known: {', '.join(sorted(FRAMEWORKS))}",
        )
    inputs = contract_inputs(step)
    _check_container_paths(step, inputs, refuse)
    _check_env(step, refuse)
    if step.job_kind == "processing":
        for name, value in step.job_args.items():
            if value is not None and len(str(value)) > MAX_ARGUMENT:
                refuse(name, f"is {len(str(value))} characters; a job argument holds at most 256")
    else:
        for name, value in (step.job_args.get("hyperparameters") or {}).items():
            if len(json.dumps(value)) > MAX_HYPERPARAMETER_VALUE:
                refuse(f"hyperparameters.{name}", "is longer than SageMaker's 2500 characters")


def _check_step_name(step: PlanStep, suffixes: tuple[str, ...], refuse: Any) -> None:
    longest = max(len(s) for s in suffixes)
    if not STEP_NAME.match(step.name) or len(step.name) + longest > MAX_STEP_NAME:
        room = MAX_STEP_NAME - longest
        refuse(
            "node name",
            f"cannot be a SageMaker step name: use at most {room} letters, digits, '-' and '_' "
            f"(SageMaker allows {MAX_STEP_NAME} characters"
            + (f" and adds {', '.join(repr(s) for s in suffixes if s)})" if longest else ")"),
        )


def _check_instance_type(value: Any, refuse: Any) -> None:
    if value in INSTANCE_TYPES:
        return
    text = str(value)
    parts = text.split(".")
    if len(parts) == 3 and parts[0] == "ml" and parts[1] in INSTANCE_FAMILIES:
        sizes = ", ".join(INSTANCE_FAMILIES[parts[1]])
        hint = f"ml.{parts[1]} comes in sizes {sizes}"
    else:
        close = difflib.get_close_matches(text, sorted(INSTANCE_TYPES), n=3, cutoff=0.75)
        hint = f"did you mean {' or '.join(close)}?" if close else "e.g. ml.m5.xlarge"
    refuse("instance_type", f"is {text!r}, which SageMaker does not offer; {hint}")


def _check_model_package_group(step: PlanStep, refuse: Any) -> None:
    group = step.env.get("MODEL_NAME") or ""
    if not MODEL_PACKAGE_GROUP.match(group):
        refuse(
            "model_name",
            f"is {group!r}; a SageMaker model package group name is 1-63 letters, digits and "
            "hyphens, starting and ending with a letter or digit (it defaults to the pipeline name)",
        )


def contract_inputs(step: PlanStep) -> dict[str, str]:
    """Input name -> container path of every input the step's contract has, bound or not."""
    return dict(step.input_paths)


def _check_container_paths(step: PlanStep, inputs: dict[str, str], refuse: Any) -> None:
    """Jobs read and write where SageMaker mounts data: training channels and model, processing
    folders."""
    outputs = {name: out["container_path"] for name, out in step.outputs.items()}
    if step.job_kind == "processing":
        for name in set(inputs) & RESERVED_PROCESSING_INPUTS:
            refuse(f"contract {name}", "is a name FrameworkProcessor uses for its own code input")
        for name, path in {**inputs, **outputs}.items():
            if not path.startswith(PROCESSING_ROOT):
                refuse(f"contract {name}", f"(of the spec) {path} is not under {PROCESSING_ROOT}")
        return
    for name, path in inputs.items():
        if not CHANNEL_NAME.match(name) or path != TRAINING_CHANNEL_ROOT + name:
            refuse(
                f"contract {name}",
                f"(of the spec) {path}: a training input is a channel read from "
                f"{TRAINING_CHANNEL_ROOT}<input name>",
            )
    for name, path in outputs.items():
        if path not in TRAINING_OUTPUTS:
            refuse(
                f"contract {name}",
                f"(of the spec) {path}: a training job's outputs are {' and '.join(TRAINING_OUTPUTS)}",
            )


def _check_env(step: PlanStep, refuse: Any) -> None:
    """A processing job's longer values travel in its launcher script (code.launcher's
    `exports`), so only training jobs are held to SageMaker's limit here."""
    limit = MAX_PROCESSING_ENV_VALUE if step.job_kind == "processing" else MAX_TRAINING_ENV_VALUE
    for name, value in step.env.items():
        if not ENV_NAME.match(name):
            refuse(f"env {name}", "is not a valid environment variable name")
        elif len(value) > limit and step.job_kind != "processing":
            refuse(
                f"env {name}",
                f"is {len(value)} characters; SageMaker {step.job_kind} jobs take at most {limit}",
            )


def _check_external_inputs(step: PlanStep, refuse: Any) -> None:
    for name, binding in step.inputs.items():
        uri = binding.get("uri")
        if uri is not None and not str(uri).startswith("s3://"):
            refuse(
                f"input_bindings.{name}",
                f"is {uri!r}; a SageMaker job reads inputs from S3: bind an s3:// URI",
            )
