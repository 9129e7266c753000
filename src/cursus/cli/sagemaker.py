"""`cursus sagemaker ...`: deploy, start and list pipelines on Amazon SageMaker Pipelines.

`cursus compile DAG -c CONFIG --target sagemaker` (in main) writes the definition offline; these
commands talk to AWS with the caller's credentials. The SDK is imported by the commands only.
"""

from __future__ import annotations

import json
from typing import Any

import click

from cursus.errors import CursusError


def register(cli: click.Group) -> None:
    cli.add_command(sagemaker)


def _parameters(items: tuple[str, ...]) -> dict[str, str]:
    parameters = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CursusError(f"--param {item!r}: write NAME=VALUE")
        parameters[name] = value
    return parameters


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


PARAM_OPTION = click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="a pipeline parameter, e.g. --param KmsKeyId=arn:aws:kms:...",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
REGION_OPTION = click.option("--region", help="AWS region [the config's, or the AWS default]")


@click.group()
def sagemaker() -> None:
    """Deploy and run pipelines on Amazon SageMaker Pipelines (needs AWS credentials).

    Parameters of every pipeline: ExecutionTempDir (S3 prefix of step outputs), KmsKeyId,
    VpcSubnet and SecurityGroupId (given together at deploy, they put every job in that VPC),
    and ModelApprovalStatus when the pipeline registers a model.
    """


@sagemaker.command("deploy")
@click.argument("dag_ref", metavar="DAG")
@click.option(
    "-c", "--config", "config", required=True, type=click.Path(dir_okay=False), help="config JSON"
)
@PARAM_OPTION
@click.option("--role", help="IAM role ARN the pipeline runs as [the config's role]")
@click.option(
    "--allow-sample-data", is_flag=True, help="a demo on the bundled sample data and its label"
)
@JSON_OPTION
def deploy(
    dag_ref: str,
    config: str,
    params: tuple[str, ...],
    role: str | None,
    allow_sample_data: bool,
    as_json: bool,
) -> None:
    """Upload the code and create or update the pipeline (an upsert).

    --param sets parameter defaults stored in the pipeline."""
    from cursus.backends.sagemaker import upsert
    from cursus.targets import compile_dag

    compiled = compile_dag(
        dag_ref,
        config,
        "sagemaker",
        allow_sample_data,
        role=role,
        parameters=_parameters(params),
    )
    result = upsert(compiled)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        _print_json(result.to_dict())
        return
    verb = "created" if result.created else "updated"
    click.echo(f"{verb} pipeline {result.pipeline_name}: {result.pipeline_arn}")
    click.echo(
        f"code: {len(result.uploaded)} object(s) uploaded, "
        f"{len(result.already_present)} already in S3"
    )


@sagemaker.command("start")
@click.argument("pipeline", metavar="PIPELINE_NAME|DAG")
@click.option(
    "-c",
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    help="config JSON: with a DAG, its pipeline_name and region are used",
)
@PARAM_OPTION
@REGION_OPTION
@click.option("--display-name", help="a name for this execution")
@JSON_OPTION
def start(
    pipeline: str,
    config: str | None,
    params: tuple[str, ...],
    region: str | None,
    display_name: str | None,
    as_json: bool,
) -> None:
    """Start an execution of a deployed pipeline; --param overrides parameter defaults.

    Values SageMaker would refuse (a ModelApprovalStatus it does not know, a display name over
    82 characters) are refused first: with a DAG and config, before any AWS call."""
    from cursus.backends.sagemaker import start_pipeline

    parameters = _parameters(params)
    if config and parameters:
        _check_before_aws(pipeline, config, parameters, display_name)
    name, config_region = resolve_pipeline(pipeline, config)
    result = start_pipeline(
        name, parameters, region=region or config_region, display_name=display_name
    )
    if as_json:
        _print_json(result)
    else:
        click.echo(f"started {result['pipeline_name']}: {result['execution_arn']}")


def _check_before_aws(
    pipeline: str, config: str, parameters: dict[str, str], display_name: str | None
) -> None:
    """Check --param values against the definition a DAG and its config compile to, so a value
    SageMaker would refuse never costs an AWS call. A bare pipeline name has no local
    definition: `start` checks it against the stored one, read before the execution starts."""
    from cursus.backends.sagemaker.aws import check_start
    from cursus.errors import DAGError
    from cursus.targets import compile_dag

    try:  # the deploy refused what only runs here; this compile only checks the parameters
        compiled = compile_dag(pipeline, config, "sagemaker", allow_sample_data=True)
    except DAGError:  # a pipeline name, given with a config for its region
        return
    definition = compiled.definition_dict()
    check_start(compiled.name, parameters, display_name, definition, compiled.target.region)


def resolve_pipeline(pipeline: str, config_path: str | None) -> tuple[str, str | None]:
    """(pipeline name, region): from a DAG and its config, or a pipeline name as given (with the
    config's region, if a config is given)."""
    from cursus.errors import DAGError

    if config_path is None:
        return pipeline, None
    from cursus.core.planner import compile_plan

    try:
        plan = compile_plan(pipeline, config_path)
    except DAGError:  # a pipeline name, given with a config for its region
        from cursus.core.config_file import load_configs

        configs = load_configs(config_path)
        return pipeline, next((c.region for c in configs.values()), None)
    return plan.pipeline["pipeline_name"], plan.pipeline.get("region")


@sagemaker.command("executions")
@click.argument("pipeline_name")
@REGION_OPTION
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
@JSON_OPTION
def executions(pipeline_name: str, region: str | None, limit: int, as_json: bool) -> None:
    """List a pipeline's executions, newest first."""
    from cursus.backends.sagemaker import list_executions

    rows = list_executions(pipeline_name, region=region, limit=limit)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        click.echo(f"no executions of {pipeline_name}")
    for row in rows:
        click.echo(f"{row['execution_arn']}  {row['status'] or '-':10} {row['started'] or '-'}")
