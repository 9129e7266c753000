"""CLI commands for data versioning (`cursus data`), drift monitoring (`cursus monitor`) and
serving (`cursus serve`, `cursus deploy`, `cursus deployments`). Each imports its library only
when it runs."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

WORKSPACE_OPTION = click.option(
    "--workspace", type=click.Path(file_okay=False), help="[CURSUS_WORKSPACE or ./.cursus]"
)
PROJECT_OPTION = click.option(
    "--project", "project_name", default="default", show_default=True, help="MLOps project"
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="print the result as JSON")


def _project(name: str, workspace: str | None) -> Any:
    from cursus.mlops.project import Project

    return Project.load(name, workspace)


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def register(cli: click.Group) -> None:
    """Add this part's commands to `cli`."""
    for command in (data, monitor, serve, deploy, deployments):
        cli.add_command(command)


# ---------------------------------------------------------------- data


@click.group()
def data() -> None:
    """Version data with DVC (a local remote folder per project by default)."""


@data.command("add")
@click.argument("path", type=click.Path())
@PROJECT_OPTION
@WORKSPACE_OPTION
@JSON_OPTION
def data_add(path: str, project_name: str, workspace: str | None, as_json: bool) -> None:
    """Track PATH (a file or folder) in the DVC repository here, creating it if needed."""
    from cursus.mlops.data import dvc_add

    result = dvc_add(_project(project_name, workspace), path)
    if as_json:
        _print_json(result)
        return
    click.echo(f"tracked {result['path']} (md5 {result['md5']}, {result['size']} bytes)")
    click.echo(f"  record: {result['dvc_file']}; `cursus data push` sends it to the remote")


@data.command("push")
@click.argument("targets", nargs=-1)
@click.option("--remote", help="a DVC remote name [the repository's default, else the project's]")
@PROJECT_OPTION
@WORKSPACE_OPTION
def data_push(
    targets: tuple[str, ...], remote: str | None, project_name: str, workspace: str | None
) -> None:
    """Send tracked data (all, or TARGETS) to the remote."""
    from cursus.mlops.data import dvc_push

    result = dvc_push(_project(project_name, workspace), list(targets), remote=remote)
    click.echo(f"pushed {result['pushed']} file(s) to {result['remote']} ({result['url']})")


@data.command("pull")
@click.argument("targets", nargs=-1)
@click.option("--remote", help="a DVC remote name [the repository's default, else the project's]")
@PROJECT_OPTION
@WORKSPACE_OPTION
def data_pull(
    targets: tuple[str, ...], remote: str | None, project_name: str, workspace: str | None
) -> None:
    """Fetch tracked data (all, or TARGETS) from the remote and restore it here."""
    from cursus.mlops.data import dvc_pull

    result = dvc_pull(_project(project_name, workspace), list(targets), remote=remote)
    restored = ", ".join(result["restored"]) or "nothing to restore"
    click.echo(f"fetched {result['fetched']} file(s) from {result['remote']}; restored: {restored}")


@data.command("status")
@click.option("--remote", help="a DVC remote name [the repository's default, else the project's]")
@PROJECT_OPTION
@WORKSPACE_OPTION
@JSON_OPTION
def data_status(
    remote: str | None, project_name: str, workspace: str | None, as_json: bool
) -> None:
    """What is tracked, changed since `add`, or missing from the cache or the remote."""
    from cursus.mlops.data import dvc_status

    status = dvc_status(_project(project_name, workspace), remote=remote)
    if as_json:
        _print_json(status)
        return
    click.echo(f"repository {status['repo']}, remote {status['remote']} ({status['url']})")
    for label, key in (
        ("tracked", "tracked"),
        ("changed since add", "changed"),
        ("not in cache", "not_in_cache"),
        ("not in remote", "not_in_remote"),
    ):
        click.echo(f"  {label:18} {', '.join(status[key]) or '-'}")


@data.command("lineage")
@click.argument("run_id", required=False)
@WORKSPACE_OPTION
@JSON_OPTION
def data_lineage(run_id: str | None, workspace: str | None, as_json: bool) -> None:
    """The data a run used (the latest run by default): source and content digest per input."""
    from cursus.mlops.data import data_inputs
    from cursus.workspace import resolve_workspace

    rows = data_inputs(resolve_workspace(workspace), run_id)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        click.echo("no data inputs recorded" + (f" for run {run_id}" if run_id else ""))
        return
    click.echo(f"run {rows[0]['run_id']} ({rows[0]['pipeline_name']})")
    for row in rows:
        click.echo(
            f"  {row['node']}.{row['input']}  {row['source']}  sha256 {row['digest'][:16]} "
            f"(of the {row['digest_of']})"
        )


# ---------------------------------------------------------------- monitor


@click.group()
def monitor() -> None:
    """Monitor data and models."""


@monitor.command("drift")
@click.option("--reference", required=True, type=click.Path(exists=True), help="reference data")
@click.option("--current", required=True, type=click.Path(exists=True), help="current data")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.5,
    show_default=True,
    help="share of drifted columns that counts as drift",
)
@click.option("--columns", help="comma-separated columns to compare [all shared]")
@click.option("--exclude", multiple=True, help="a column not to compare (repeatable)")
@click.option(
    "-o", "--output", default="drift-report", show_default=True, type=click.Path(file_okay=False)
)
@JSON_OPTION
def monitor_drift(
    reference: str,
    current: str,
    threshold: float,
    columns: str | None,
    exclude: tuple[str, ...],
    output: str,
    as_json: bool,
) -> None:
    """Compare CURRENT with REFERENCE data (.csv/.parquet files or folders holding data.parquet).

    Writes drift.json and drift.html; exits 1 when the share of drifted columns reaches the
    threshold, 0 otherwise.
    """
    from cursus.mlops.drift import drift_report

    chosen = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    summary = drift_report(reference, current, output, threshold, chosen, exclude)
    if as_json:
        _print_json({k: v for k, v in summary.items() if k != "columns"})
    else:
        verdict = "DRIFT" if summary["drift_detected"] else "no drift"
        click.echo(
            f"{verdict}: {summary['n_drifted']} of {summary['n_columns']} columns drifted "
            f"(share {summary['drift_share']:.3f}, threshold {threshold})"
        )
        if summary["drifted_columns"]:
            click.echo("  drifted: " + ", ".join(summary["drifted_columns"]))
        click.echo(f"  report: {summary['report_html']}, {summary['report_json']}")
    if summary["drift_detected"]:
        sys.exit(1)


# ---------------------------------------------------------------- serving


@click.command()
@click.argument("model")
@click.option("--port", type=click.IntRange(1, 65535), help="[the project's serving port]")
@PROJECT_OPTION
@WORKSPACE_OPTION
def serve(model: str, port: int | None, project_name: str, workspace: str | None) -> None:
    """Serve MODEL on 127.0.0.1 in the foreground (Ctrl-C stops it).

    MODEL is a model.tar.gz, a folder holding one, or a registered model: NAME, NAME:VERSION or
    NAME@ALIAS. Endpoints: GET /ping, POST /invocations (text/csv, application/json), GET /metrics.
    """
    from cursus.mlops.serving import serve_model

    def ready(info: dict[str, Any]) -> None:
        click.echo(
            f"serving {info['model_ref']} (sha256 {info['sha256'][:12]}) on {info['url']}"
            " - POST /invocations, GET /ping, GET /metrics; Ctrl-C stops",
            err=True,
        )

    serve_model(_project(project_name, workspace), model, port, on_ready=ready)


@click.command()
@click.argument("model")
@click.option(
    "--engine",
    type=click.Choice(["fastapi", "ray", "sagemaker"]),
    default="fastapi",
    show_default=True,
    help="fastapi: one uvicorn process; ray: a local Ray Serve deployment; sagemaker: an endpoint",
)
@click.option(
    "--replicas",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Ray Serve replicas behind the one route, or SageMaker instances",
)
@click.option("--port", type=click.IntRange(1, 65535), help="[the project's serving port if free]")
@click.option("--name", help="deployment name [the model's name, or model-<digest>]")
@click.option("--role", help="sagemaker: the endpoint's execution role ARN [CURSUS_SAGEMAKER_ROLE]")
@click.option("--region", help="sagemaker: AWS region [AWS_REGION / AWS_DEFAULT_REGION]")
@click.option("--bucket", help="sagemaker: S3 bucket for the model [sagemaker-REGION-ACCOUNT]")
@click.option("--instance-type", help="sagemaker: instance type [ml.m5.large]")
@click.option("--no-wait", is_flag=True, help="sagemaker: return while the endpoint is Creating")
@PROJECT_OPTION
@WORKSPACE_OPTION
@JSON_OPTION
def deploy(
    model: str,
    engine: str,
    replicas: int,
    port: int | None,
    name: str | None,
    role: str | None,
    region: str | None,
    bucket: str | None,
    instance_type: str | None,
    no_wait: bool,
    project_name: str,
    workspace: str | None,
    as_json: bool,
) -> None:
    """Serve MODEL in the background and record it (`cursus deployments` lists and stops it).

    fastapi and ray serve on 127.0.0.1 (GET /ping, POST /invocations); sagemaker creates a
    Model, an EndpointConfig and an Endpoint through the SageMaker SDK.
    """
    from cursus.errors import CursusError
    from cursus.mlops.serving import deploy_model

    aws = {"role": role, "region": region, "bucket": bucket, "instance_type": instance_type}
    if engine != "sagemaker" and (any(aws.values()) or no_wait):
        raise CursusError(
            "--role, --region, --bucket, --instance-type and --no-wait apply to --engine sagemaker"
        )
    if engine == "sagemaker" and port is not None:
        raise CursusError("--port applies to the local engines (fastapi, ray), not sagemaker")
    if engine == "ray" and not as_json:
        click.echo(f"starting Ray Serve with {replicas} replica(s); this takes ~20 s", err=True)
    options: dict[str, Any] = {**aws, "wait": not no_wait}
    if not as_json:
        options["on_step"] = lambda message: click.echo(message, err=True)
    record = deploy_model(
        _project(project_name, workspace),
        model,
        port=port,
        name=name,
        engine=engine,
        replicas=replicas,
        sagemaker=options if engine == "sagemaker" else None,
    )
    if as_json:
        _print_json(record)
        return
    if engine == "sagemaker":
        click.echo(
            f"deployed {record['name']}: SageMaker endpoint {record['endpoint_name']} "
            f"({record['status']}, {replicas} x {record['instance_type']}, image "
            f"{record['image_uri']}); `cursus deployments stop {record['name']}` deletes it"
        )
        return
    click.echo(
        f"deployed {record['name']} ({engine}, {replicas} replica(s)): {record['url']} (pid "
        f"{record['pid']}, sha256 {record['sha256'][:12]}); "
        f"`cursus deployments stop {record['name']}` stops it"
    )


@click.group()
def deployments() -> None:
    """Deployments started by `cursus deploy`, of every engine (fastapi, ray, sagemaker)."""


@deployments.command("list")
@PROJECT_OPTION
@WORKSPACE_OPTION
@JSON_OPTION
def deployments_list(project_name: str, workspace: str | None, as_json: bool) -> None:
    """List deployments with their health (from /ping)."""
    from cursus.mlops.serving import list_deployments

    rows = list_deployments(_project(project_name, workspace))
    if as_json:
        _print_json(rows)
        return
    if not rows:
        click.echo("no deployments")
    for r in rows:
        where = r.get("endpoint_name") if r["engine"] == "sagemaker" else r.get("url")
        process = f"pid {r['pid']}" if r.get("pid") else r.get("region", "")
        click.echo(
            f"{r['name']:24} {r['engine']:9} x{r.get('replicas', 1):<3} {r['health']:12} "
            f"{where!s:24} {process:<11} {r['started']}  {r['model_ref']}"
        )


@deployments.command("stop")
@click.argument("name", required=False)
@click.option("--all", "stop_every", is_flag=True, help="stop every deployment of the project")
@PROJECT_OPTION
@WORKSPACE_OPTION
def deployments_stop(
    name: str | None, stop_every: bool, project_name: str, workspace: str | None
) -> None:
    """Stop deployment NAME, or all of them with --all."""
    from cursus.errors import CursusError
    from cursus.mlops.serving import stop_all, stop_deployment

    if bool(name) == stop_every:
        raise CursusError("give a deployment NAME or --all (not both)")
    project = _project(project_name, workspace)
    stopped = stop_all(project) if stop_every else [stop_deployment(project, name or "")]
    for record in stopped:
        if record.get("engine") == "sagemaker":
            state = "endpoint deleted" if record["stopped"] else "endpoint was gone; record removed"
        else:
            state = "stopped" if record["stopped"] else "was not running; record removed"
        if record.get("killed_leftovers"):
            state += f" ({len(record['killed_leftovers'])} leftover process(es) killed)"
        click.echo(f"{record['name']}: {state}")
    if not stopped:
        click.echo("no deployments")
