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
def step_run(
    plan_path: str,
    step_name: str,
    run_id: str,
    workspace: str | None,
    no_cache: bool,
    registry_uri: str | None,
) -> None:
    """Run STEP of the Plan file PLAN within run --run-id; its upstream steps must have succeeded."""
    from cursus.backends.local.runner import LocalRunner
    from cursus.plan import Plan

    plan = Plan.load(plan_path)
    runner = LocalRunner(
        plan, workspace=workspace, use_cache=not no_cache, registry_uri=registry_uri
    )
    result = runner.run_one(_safe_run_id(run_id), step_name)
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
