"""`cursus step run PLAN STEP`: one step through the local runner's store, cache and records.

Orchestrators (the Airflow backend's tasks) call this once per step with their own run id, so a
pipeline they start shares results with `cursus run`.
"""

from __future__ import annotations

import sys

import click


def register(cli: click.Group) -> None:
    cli.add_command(step)


@click.group()
def step() -> None:
    """Run single steps of a compiled Plan."""


@step.command("run")
@click.argument("plan_path", metavar="PLAN", type=click.Path(dir_okay=False))
@click.argument("step_name", metavar="STEP")
@click.option("--run-id", required=True, help="the run this step belongs to (created on first use)")
@click.option(
    "--workspace", type=click.Path(file_okay=False), help="[./.cursus or $CURSUS_WORKSPACE]"
)
@click.option("--no-cache", is_flag=True)
@click.option("--registry-uri", help="model registry for Registration steps")
@click.option(
    "--tracking-uri", help="MLflow tracking URI [MLFLOW_TRACKING_URI, else <workspace>/mlflow.db]"
)
@click.option("--no-tracking", is_flag=True, help="do not track this step in MLflow")
def step_run(
    plan_path: str,
    step_name: str,
    run_id: str,
    workspace: str | None,
    no_cache: bool,
    registry_uri: str | None,
    tracking_uri: str | None,
    no_tracking: bool,
) -> None:
    """Run STEP of the Plan file PLAN within run --run-id; its upstream steps must have succeeded.

    The run is tracked in MLflow and its data lineage recorded, as `cursus run` does."""
    from cursus.plan import Plan
    from cursus.targets import run_plan_step

    plan = Plan.load(plan_path)
    result = run_plan_step(
        plan,
        step_name,
        _safe_run_id(run_id),
        workspace=workspace,
        use_cache=not no_cache,
        tracking=not no_tracking,
        tracking_uri=tracking_uri,
        registry_uri=registry_uri,
    )
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items())
    click.echo(f"{step_name}: {result.status}" + (f"  {metrics}" if metrics else ""))
    for name, folder in result.outputs.items():
        click.echo(f"  {name}: {folder}")
    if not result.ok:
        click.echo(f"error: {step_name} failed: {result.error}", err=True)
        sys.exit(1)


def _safe_run_id(run_id: str) -> str:
    """Airflow run ids look like 'manual__2026-01-01T00:00:00+00:00': keep them readable, drop the rest."""
    import re

    return re.sub(r"[^A-Za-z0-9._:+-]", "_", run_id).lstrip("._:+-") or "run"
