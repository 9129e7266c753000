"""The SageMaker backend: Plan -> `sagemaker.workflow.pipeline.Pipeline` (SDK 2.x).

Compiling is offline (no network, no credentials): `generate_pipeline(plan)` gives a
`SageMakerPipeline` holding the SDK Pipeline, its definition JSON and the code objects the jobs
run, at content-addressed S3 keys. `upsert` uploads that code and creates or updates the
pipeline; `start_pipeline` and `list_executions` run and list it. The backend reads only the
Plan (`cursus.targets.compile_dag` goes from a DAG and config). Importing this package is cheap:
the SDK is imported by the functions that need it.
"""

from __future__ import annotations

from typing import Any

from cursus.backends.sagemaker.aws import DeployResult, list_executions, upsert
from cursus.backends.sagemaker.aws import start as start_pipeline
from cursus.backends.sagemaker.build import STANDARD_PARAMETERS, SageMakerPipeline, build_pipeline
from cursus.backends.sagemaker.checks import check_definition
from cursus.backends.sagemaker.errors import (
    AWSCallError,
    DefinitionError,
    SageMakerConfigError,
    SageMakerUnavailable,
)
from cursus.plan import Plan

__all__ = [
    "STANDARD_PARAMETERS",
    "AWSCallError",
    "DefinitionError",
    "DeployResult",
    "SageMakerConfigError",
    "SageMakerPipeline",
    "SageMakerUnavailable",
    "check_definition",
    "generate_pipeline",
    "list_executions",
    "start_pipeline",
    "upsert",
]


def generate_pipeline(
    plan: Plan,
    role: str | None = None,
    parameters: dict[str, Any] | None = None,
) -> SageMakerPipeline:
    """Build the SageMaker pipeline of `plan`, offline. `role` overrides the config's role;
    `parameters` sets defaults of the pipeline parameters (ExecutionTempDir, KmsKeyId,
    VpcSubnet + SecurityGroupId, ModelApprovalStatus)."""
    return build_pipeline(plan, role=role, parameters=parameters)
