"""Where a Plan goes: one table of targets, and the one run path.

The compiler ends at the Plan; each target takes a Plan somewhere:

- ``plan``: the Plan itself (JSON a person can read and diff);
- ``local``: a `LocalRunner` for this machine (``.run()`` runs it);
- ``sagemaker``: a `SageMakerPipeline` (the SDK Pipeline, its definition, its code objects),
  built offline;
- ``airflow``: an Airflow DAG file and the Plan file its tasks run.

`PipelineDAGCompiler.compile`, `cursus compile`, `cursus catalog compile` and the catalog's
`create_pipeline` all look targets up here. `run_pipeline` is the one way a pipeline runs on
this machine (`cursus run`, `cursus catalog run` and the Python API): every run gets the same
hooks, MLflow tracking and DVC lineage, unless the caller turns them off.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cursus.errors import ConfigError, CursusError, ValidationFailed
from cursus.plan import Plan

if TYPE_CHECKING:
    from cursus.api.dag import PipelineDAG
    from cursus.backends.local import RunHooks, RunResult
    from cursus.core.config_file import Configs


@dataclass(frozen=True)
class Target:
    name: str
    summary: str
    build: Callable[..., Any]  # build(plan, **options)


def _to_plan(plan: Plan) -> Plan:
    return plan


def _to_local(
    plan: Plan,
    workspace: str | Path | None = None,
    workers: int | None = None,
    use_cache: bool = True,
    hooks: Sequence[RunHooks] = (),
    registry_uri: str | None = None,
) -> Any:
    from cursus.backends.local.runner import LocalRunner

    return LocalRunner(
        plan,
        workspace=workspace,
        workers=workers,
        use_cache=use_cache,
        hooks=hooks,
        registry_uri=registry_uri,
    )


def _to_sagemaker(
    plan: Plan,
    role: str | None = None,
    parameters: dict[str, Any] | None = None,
) -> Any:
    from cursus.backends.sagemaker import generate_pipeline

    return generate_pipeline(plan, role=role, parameters=parameters)


def _to_airflow(plan: Plan, output: str | Path, workspace: str | Path | None = None) -> Any:
    from cursus.backends.airflow import write_dag_file

    return write_dag_file(
        plan, output, workspace=str(Path(workspace).resolve()) if workspace else None
    )


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("plan", "the Plan: JSON to read, diff and hand to any backend", _to_plan),
        Target("local", "a LocalRunner for this machine; .run() runs it", _to_local),
        Target(
            "sagemaker",
            "a SageMaker pipeline (SDK Pipeline, definition, code objects), built offline",
            _to_sagemaker,
        ),
        Target("airflow", "an Airflow DAG file and the Plan file its tasks run", _to_airflow),
    )
}


def get_target(name: str) -> Target:
    target = TARGETS.get(name)
    if target is None:
        raise ConfigError(f"unknown compile target '{name}'; available: {', '.join(TARGETS)}")
    return target


MACHINE_TARGETS = ("plan", "local")  # targets that never refuse a Plan's local_only values


def build(plan: Plan, target: str, allow_sample_data: bool = False, **options: Any) -> Any:
    """Take `plan` to `target` (options as that target takes them).

    SageMaker and Airflow refuse a Plan that holds values only this machine can run (the bundled
    sample, the default label, local paths: `Plan.local_only`), every one named at once;
    `allow_sample_data` lets a demo take the bundled sample and its label there."""
    chosen = get_target(target)
    try:
        inspect.signature(chosen.build).bind(plan, **options)
    except TypeError as exc:
        takes = [p for p in inspect.signature(chosen.build).parameters if p != "plan"]
        raise ConfigError(
            f"target '{target}': {exc}; it takes {', '.join(takes) or 'no options'}"
        ) from None
    problems: list[CursusError] = []
    if target not in MACHINE_TARGETS:  # this machine runs what only it can (and pays no import)
        from cursus.core.portability import refusals, region_refusals

        problems.extend(refusals(plan.local_only, target, allow_sample_data))
        problems += region_refusals(plan.pipeline.get("region"), target)
    if problems:
        raise problems[0] if len(problems) == 1 else ValidationFailed(problems)
    return chosen.build(plan, **options)


def compile_dag(
    dag: PipelineDAG | str | Path,
    config: str | Path | Configs,
    target: str = "sagemaker",
    allow_sample_data: bool = False,
    **options: Any,
) -> Any:
    """Compile `dag` (a PipelineDAG, a DAG file or a bundled DAG name) with `config` (a config
    file or loaded configs) and take it to `target`."""
    from cursus.core.planner import compile_plan

    get_target(target)  # an unknown target fails before the compile
    return build(compile_plan(dag, config), target, allow_sample_data, **options)


# ---------------------------------------------------------------------- the run path


def standard_hooks(
    workspace: str | Path | None = None,
    tracking: bool = True,
    tracking_uri: str | None = None,
    lineage: bool = True,
    background: bool = False,
) -> list[RunHooks]:
    """The hooks every run gets: MLflow tracking (when MLflow is installed or a URI is asked
    for; written by a background process so it costs the run almost nothing) and the DVC data
    lineage of the run's inputs."""
    hooks: list[RunHooks] = []
    if tracking:
        from cursus.mlops.project import MLOpsError
        from cursus.workspace import mlflow_available

        if mlflow_available():
            from cursus.mlops.tracking import MLflowTracking

            hooks.append(MLflowTracking(tracking_uri, workspace=workspace, background=background))
        elif tracking_uri:
            raise MLOpsError(
                "a tracking URI needs MLflow; `pip install mlflow` or do not ask for one"
            )
    if lineage:
        from cursus.mlops.data import DataLineage

        hooks.append(DataLineage(warn=False))
    return hooks


def run_plan(
    plan: Plan,
    workspace: str | Path | None = None,
    workers: int | None = None,
    use_cache: bool = True,
    hooks: Sequence[RunHooks] = (),
    tracking: bool = True,
    tracking_uri: str | None = None,
    lineage: bool = True,
    registry_uri: str | None = None,
    background_tracking: bool = False,
) -> RunResult:
    """Run a compiled Plan here, with the caller's hooks and the standard ones.

    background_tracking: MLflow is written by a process that outlives this one (what `cursus
    run` does); otherwise the call returns once the tracking is written."""
    every = [
        *hooks,
        *standard_hooks(workspace, tracking, tracking_uri, lineage, background_tracking),
    ]
    _prepare_stores(plan, workspace, tracking, tracking_uri, registry_uri)
    runner = build(
        plan,
        "local",
        workspace=workspace,
        workers=workers,
        use_cache=use_cache,
        hooks=every,
        registry_uri=registry_uri,
    )
    return runner.run()


def _prepare_stores(
    plan: Plan,
    workspace: str | Path | None,
    tracking: bool,
    tracking_uri: str | None,
    registry_uri: str | None,
) -> None:
    """A workspace's first run that tracks or registers gets its MLflow store as a copy of an
    empty one, not ~2 s of table creation on the way (cursus.mlops.tracking.prepare_store)."""
    from cursus.workspace import default_registry_uri, default_tracking_uri, resolve_workspace

    root = resolve_workspace(workspace)
    uris = set()
    if any(step.job_kind == "register" for step in plan.steps):
        uris.add(registry_uri or default_registry_uri(root))
    if tracking:
        uris.add(
            tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(root)
        )
    new = [u for u in uris if u.startswith("sqlite:///") and not Path(u[10:]).exists()]
    if new:
        from cursus.mlops.tracking import prepare_store

        for uri in new:
            prepare_store(uri)


def run_plan_step(
    plan: Plan,
    step: str,
    run_id: str,
    workspace: str | Path | None = None,
    use_cache: bool = True,
    tracking: bool = True,
    tracking_uri: str | None = None,
    lineage: bool = True,
    registry_uri: str | None = None,
) -> Any:
    """Run one step of `plan` within run `run_id` (what an orchestrator's task does), with the
    standard hooks: the run is tracked and its lineage recorded as `cursus run` does."""
    runner = build(
        plan,
        "local",
        workspace=workspace,
        use_cache=use_cache,
        hooks=standard_hooks(workspace, tracking, tracking_uri, lineage),
        registry_uri=registry_uri,
    )
    return runner.run_one(run_id, step)


def run_pipeline(
    dag: PipelineDAG | str | Path,
    config: str | Path | Configs,
    workspace: str | Path | None = None,
    workers: int | None = None,
    use_cache: bool = True,
    hooks: Sequence[RunHooks] = (),
    tracking: bool = True,
    tracking_uri: str | None = None,
    lineage: bool = True,
    registry_uri: str | None = None,
    background_tracking: bool = False,
) -> RunResult:
    """Compile `dag` with `config` and run it on this machine.

    tracking: track the run in MLflow (tracking_uri, else MLFLOW_TRACKING_URI, else
    `<workspace>/mlflow.db`), when MLflow is installed. lineage: record the DVC lineage of the
    run's inputs. registry_uri: where Registration steps register models (default: the
    workspace's MLflow store when MLflow is installed, else the folder `<workspace>/registry`).
    The result's `warnings` say what the data lineage noticed (a source that changed since the
    last run).
    """
    from cursus.core.planner import compile_plan

    return run_plan(
        compile_plan(dag, config),
        workspace=workspace,
        workers=workers,
        use_cache=use_cache,
        hooks=hooks,
        tracking=tracking,
        tracking_uri=tracking_uri,
        lineage=lineage,
        registry_uri=registry_uri,
        background_tracking=background_tracking,
    )
