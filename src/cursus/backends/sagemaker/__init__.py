"""The SageMaker backend: Plan -> `sagemaker.workflow.pipeline.Pipeline` (SDK 2.x).

Compiling is offline (no network, no credentials): `compile_dag` and `compile_plan_to_sagemaker`
give a `SageMakerPipeline` holding the SDK Pipeline, its definition JSON and the code objects the
jobs run, at content-addressed S3 keys. `deploy` uploads that code and creates or updates the
pipeline; `start` and `list_executions` run and list it. Importing this package is cheap: the SDK is
imported by the functions that need it.
"""

from __future__ import annotations

from pathlib import Path
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
    "compile_dag",
    "compile_plan_to_sagemaker",
    "deploy",
    "list_executions",
    "start",
    "upsert",
]


def compile_plan_to_sagemaker(
    plan: Plan, role: str | None = None, parameters: dict[str, Any] | None = None
) -> SageMakerPipeline:
    """Build the SageMaker pipeline of `plan`, offline. `role` overrides the config's role;
    `parameters` sets defaults of the pipeline parameters (ExecutionTempDir, KmsKeyId,
    VpcSubnet + SecurityGroupId, ModelApprovalStatus)."""
    return build_pipeline(plan, role=role, parameters=parameters)


def _plan(dag: Any, config_path: str | Path) -> Plan:
    from cursus.api.loading import load_dag
    from cursus.core.compiler import PipelineDAGCompiler

    graph = load_dag(dag) if isinstance(dag, str | Path) else dag
    return PipelineDAGCompiler(config_path).compile_to_plan(graph)


def compile_dag(
    dag: Any,
    config_path: str | Path,
    role: str | None = None,
    parameters: dict[str, Any] | None = None,
) -> SageMakerPipeline:
    """Compile `dag` (a PipelineDAG, a DAG file or a bundled DAG name) with `config_path`."""
    return compile_plan_to_sagemaker(_plan(dag, config_path), role=role, parameters=parameters)


def deploy(
    dag: Any,
    config_path: str | Path,
    role: str | None = None,
    parameters: dict[str, Any] | None = None,
    session: Any = None,
) -> DeployResult:
    """Compile, upload the code to S3 and create or update the pipeline (an upsert)."""
    return upsert(compile_dag(dag, config_path, role=role, parameters=parameters), session)


def start(
    pipeline: Any,
    config_path: str | Path | None = None,
    parameters: dict[str, Any] | None = None,
    region: str | None = None,
    display_name: str | None = None,
    session: Any = None,
) -> dict[str, Any]:
    """Start a deployed pipeline, named directly or by its DAG and config (whose pipeline_name
    and region are used). Returns the execution ARN."""
    name, config_region = resolve_pipeline(pipeline, config_path)
    return start_pipeline(
        name, parameters, region=region or config_region, display_name=display_name, session=session
    )


def resolve_pipeline(pipeline: Any, config_path: str | Path | None) -> tuple[str, str | None]:
    """(pipeline name, region): from a DAG and its config, or a pipeline name as given (with the
    config's region, if a config is given)."""
    from cursus.errors import DAGError

    if config_path is None:
        return str(pipeline), None
    try:
        plan = _plan(pipeline, config_path)
    except DAGError:
        from cursus.core.config_file import load_configs

        configs = load_configs(config_path)
        region = next((c.region for c in configs.values()), None)
        return str(pipeline), region
    return plan.pipeline["pipeline_name"], plan.pipeline.get("region")
