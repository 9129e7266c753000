"""The calls that need AWS: upload the code, create or update the pipeline, start and list
executions.

They go through boto3 directly rather than `Pipeline.upsert()` / `start()`, which add telemetry
calls to an AWS HTTPS endpoint; boto3 honours AWS_ENDPOINT_URL, which is how the tests point them
at a local AWS stand-in.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cursus.backends.sagemaker import shapes
from cursus.backends.sagemaker.build import SUBNET, SageMakerPipeline, compilation_of
from cursus.backends.sagemaker.code import CodeObject
from cursus.backends.sagemaker.errors import AWSCallError, SageMakerConfigError
from cursus.errors import CursusError, ValidationFailed

# CreatePipeline takes a definition inline up to this size; larger ones go through S3
INLINE_DEFINITION_BYTES = 100 * 1024


@dataclass
class DeployResult:
    pipeline_name: str
    pipeline_arn: str
    created: bool
    uploaded: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline_name": self.pipeline_name,
            "pipeline_arn": self.pipeline_arn,
            "created": self.created,
            "uploaded": self.uploaded,
            "already_present": self.already_present,
            "warnings": self.warnings,
        }


def aws_session(region: str | None = None) -> Any:
    """A boto3 session with the caller's credentials (env, profile, instance role)."""
    import boto3

    session = boto3.Session(region_name=region) if region else boto3.Session()
    if not session.region_name:
        raise CursusError(
            "no AWS region: pass --region (or -c CONFIG), or set AWS_REGION / AWS_DEFAULT_REGION"
        )
    return session


@contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """botocore's exceptions as one-line AWSCallErrors that say what was being done."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise AWSCallError(
            f"{action}: {error.get('Code', 'error')}: {error.get('Message', exc)}"
        ) from None
    except BotoCoreError as exc:
        raise AWSCallError(f"{action}: {exc}") from None


def _error_code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


# ---------------------------------------------------------------- deploy


def upload_code(objects: list[CodeObject], session: Any) -> tuple[list[str], list[str]]:
    """Put each object not already in S3. Keys are content hashes: an existing key has the same
    bytes, so it is left alone. Returns (uploaded, already present) URIs."""
    from botocore.exceptions import ClientError

    s3 = session.client("s3")
    uploaded, present = [], []
    for obj in objects:
        with aws_errors(f"checking {obj.uri}"):
            try:
                s3.head_object(Bucket=obj.bucket, Key=obj.key)
                present.append(obj.uri)
                continue
            except ClientError as exc:
                if _error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
                    raise
        with aws_errors(f"uploading {obj.uri}"):
            s3.put_object(Bucket=obj.bucket, Key=obj.key, Body=obj.body)
        uploaded.append(obj.uri)
    return uploaded, present


def upsert(compiled: SageMakerPipeline | Any, session: Any = None) -> DeployResult:
    """Upload the code of `compiled` (a SageMakerPipeline, or the Pipeline of one), then create
    its pipeline or update the existing one."""
    from botocore.exceptions import ClientError

    compiled = compilation_of(compiled)
    session = session or aws_session(compiled.target.region)
    uploaded, present = upload_code(compiled.code_objects(), session)
    sm = session.client("sagemaker")
    name = compiled.name
    request: dict[str, Any] = {
        "PipelineName": name,
        "RoleArn": compiled.target.role,
        **_definition_argument(compiled, session),
    }
    description = compiled.plan.pipeline.get("pipeline_description")
    if description:
        request["PipelineDescription"] = description
    with aws_errors(f"creating pipeline {name}"):
        try:
            response = sm.create_pipeline(
                **request, PipelineDisplayName=name, ClientRequestToken=str(uuid.uuid4())
            )
            created = True
        except ClientError as exc:
            if _error_code(exc) not in ("ResourceInUse", "ValidationException") or not _exists(
                sm, name
            ):
                raise
            response = sm.update_pipeline(**request)
            created = False
    warnings = compiled.plan.warnings + compiled.warnings
    return DeployResult(name, response["PipelineArn"], created, uploaded, present, warnings)


def _exists(sm: Any, name: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        sm.describe_pipeline(PipelineName=name)
        return True
    except ClientError:
        return False


def _definition_argument(compiled: SageMakerPipeline, session: Any) -> dict[str, Any]:
    """The definition inline, or from S3 when it is too large to send inline."""
    definition = compiled.definition()
    if len(definition.encode()) <= INLINE_DEFINITION_BYTES:
        return {"PipelineDefinition": definition}
    digest = hashlib.sha256(definition.encode()).hexdigest()
    key = f"{compiled.name}/definition/{digest}.json"
    obj = CodeObject(f"s3://{compiled.target.bucket}/{key}", definition.encode())
    upload_code([obj], session)
    return {"PipelineDefinitionS3Location": {"Bucket": obj.bucket, "ObjectKey": obj.key}}


# ---------------------------------------------------------------- executions


def stored_definition(pipeline_name: str, session: Any) -> dict[str, Any]:
    sm = session.client("sagemaker")
    with aws_errors(f"reading pipeline {pipeline_name}"):
        response = sm.describe_pipeline(PipelineName=pipeline_name)
    return json.loads(response.get("PipelineDefinition") or "{}")


def start(
    pipeline_name: str,
    parameters: dict[str, Any] | None = None,
    region: str | None = None,
    display_name: str | None = None,
    session: Any = None,
) -> dict[str, Any]:
    """Start an execution of a deployed pipeline; `parameters` override parameter defaults.

    The request is checked before any AWS call; the parameter values against the pipeline's
    stored definition (read first) before the execution starts."""
    parameters = parameters or {}
    display_name = display_name or None
    check_start(pipeline_name, parameters, display_name)
    session = session or aws_session(region)
    definition = stored_definition(pipeline_name, session)
    _check_parameters(pipeline_name, parameters, definition)
    check_start(pipeline_name, parameters, display_name, definition, session.region_name)
    request = {
        **shapes.start_request(pipeline_name, parameters, display_name),
        "ClientRequestToken": str(uuid.uuid4()),
    }
    sm = session.client("sagemaker")
    with aws_errors(f"starting pipeline {pipeline_name}"):
        response = sm.start_pipeline_execution(**request)
    return {
        "pipeline_name": pipeline_name,
        "execution_arn": response["PipelineExecutionArn"],
        "parameters": parameters,
    }


def check_start(
    pipeline_name: str,
    parameters: dict[str, Any],
    display_name: str | None = None,
    definition: dict[str, Any] | None = None,
    region: str | None = None,
) -> None:
    """Refuse a start SageMaker would refuse, with every reason at once: the
    StartPipelineExecution request itself (pipeline name, display name, parameter names and
    values), and, given the pipeline's `definition`, each parameter value as the steps that read
    it would pass it to SageMaker (an enum, a pattern, a length of the API call they make)."""
    errors = _request_errors(pipeline_name, parameters, display_name)
    if definition is not None and not errors:
        errors = _parameter_errors(pipeline_name, parameters, definition, region or "us-east-1")
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ValidationFailed(errors)


# StartPipelineExecution members, as the caller of `start` names them
_START_FIELDS = {"PipelineName": "pipeline name", "PipelineExecutionDisplayName": "display_name"}


def _request_errors(
    pipeline_name: str, parameters: dict[str, Any], display_name: str | None
) -> list[CursusError]:
    request = shapes.start_request(pipeline_name, parameters, display_name)
    names = sorted(parameters)
    errors: list[CursusError] = []
    for problem in shapes.check_request("StartPipelineExecution", request, pipeline_name):
        member, _, rest = problem.path.partition("[")
        field = _START_FIELDS.get(member, member)
        if member == "PipelineParameters" and rest[:1].isdigit():
            which = names[int(rest.partition("]")[0])]
            field = f"parameter {which}" + (" (its name)" if ".Name" in rest else "")
        errors.append(
            SageMakerConfigError(
                pipeline_name,
                field,
                f"{problem.observed}; {problem.wants} ({problem.path}): {problem.fix}",
            )
        )
    return errors


def _parameter_errors(
    pipeline_name: str, parameters: dict[str, Any], definition: dict[str, Any], region: str
) -> list[CursusError]:
    """One error per parameter whose value a step would pass where SageMaker refuses it."""
    values, type_errors = shapes.start_values(definition, parameters)
    errors: list[CursusError] = [
        SageMakerConfigError(pipeline_name, f"parameter {name}", message)
        for name, message in type_errors.items()
    ]
    by_parameter: dict[str, list[shapes.Problem]] = {}
    for problem in shapes.parameter_problems(definition, values, pipeline_name, region):
        by_parameter.setdefault(min(problem.reads & set(values)), []).append(problem)
    for name, found in sorted(by_parameter.items()):
        first = found[0]
        built = "" if first.value == values[name] else f" (making it {shapes.show(first.value)})"
        more = f"; {len(found) - 1} more member(s) read it too" if len(found) > 1 else ""
        errors.append(
            SageMakerConfigError(
                pipeline_name,
                f"parameter {name}",
                f"is {parameters[name]!r}, but step {first.where} passes it as {first.path}"
                f"{built}, where {first.wants}: {first.fix}{more}",
            )
        )
    return errors


def _check_parameters(name: str, given: dict[str, Any], definition: dict[str, Any]) -> None:
    """Refuse names the pipeline does not declare, and values no step reads (a VPC subnet for
    a pipeline compiled without a VPC would otherwise be silently ignored)."""
    declared = [p["Name"] for p in definition.get("Parameters", [])]
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise CursusError(
            f"pipeline {name} has no parameters {unknown}; its parameters are "
            f"{', '.join(declared) or 'none'}"
        )
    steps = json.dumps(definition.get("Steps", []))
    unread = sorted(p for p in given if json.dumps({"Get": f"Parameters.{p}"}) not in steps)
    if unread:
        hint = (
            f"; deploy with --param {SUBNET}=... --param SecurityGroupId=... to run in a VPC"
            if SUBNET in unread
            else ""
        )
        raise CursusError(f"no step of pipeline {name} reads parameters {unread}{hint}")


def list_executions(
    pipeline_name: str, region: str | None = None, limit: int = 20, session: Any = None
) -> list[dict[str, Any]]:
    """The pipeline's executions, newest first."""
    session = session or aws_session(region)
    sm = session.client("sagemaker")
    with aws_errors(f"listing executions of {pipeline_name}"):
        response = sm.list_pipeline_executions(
            PipelineName=pipeline_name,
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=max(1, min(limit, 100)),
        )
    rows = [_summary(s) for s in response.get("PipelineExecutionSummaries", [])]
    return sorted(rows, key=lambda row: str(row["started"] or ""), reverse=True)


def _summary(summary: dict[str, Any]) -> dict[str, Any]:
    started = summary.get("StartTime")
    return {
        "execution_arn": summary.get("PipelineExecutionArn"),
        "status": summary.get("PipelineExecutionStatus"),
        "started": started.isoformat()
        if started is not None and hasattr(started, "isoformat")
        else started,
        "display_name": summary.get("PipelineExecutionDisplayName"),
    }
