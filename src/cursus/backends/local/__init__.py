"""The local backend: run a Plan on this machine."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cursus.backends.local.hooks import RunHooks

if TYPE_CHECKING:
    from cursus.backends.local.runner import LocalRunner, RunResult, StepResult

__all__ = ["LocalRunner", "RunHooks", "RunResult", "StepResult", "run_pipeline"]


def __getattr__(name: str) -> Any:
    """The runner (and the spec loader and pydantic behind it) loads on first use, so importing
    `cursus.backends.local.hooks` for a hook class stays cheap for the CLI."""
    if name in ("LocalRunner", "RunResult", "StepResult"):
        from cursus.backends.local import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run_pipeline(
    dag: Any,
    config_path: str | Path,
    workspace: str | Path | None = None,
    workers: int | None = None,
    use_cache: bool = True,
    hooks: Sequence[RunHooks] = (),
    tracking: bool | str = False,
    registry_uri: str | None = None,
) -> RunResult:
    """Compile `dag` (a PipelineDAG, a DAG file or a bundled DAG name) with `config_path` and run it here.

    tracking: True tracks the run in MLflow (MLFLOW_TRACKING_URI, else `<workspace>/mlflow.db`); a
    string is the tracking URI to use. The call returns once the tracking is written.
    registry_uri: where Registration steps register models (default: the workspace's MLflow store
    when MLflow is installed, else the folder `<workspace>/registry`).
    """
    from cursus.api.loading import load_dag
    from cursus.backends.local.runner import LocalRunner
    from cursus.core.compiler import PipelineDAGCompiler

    hooks = list(hooks)
    if tracking:
        from cursus.mlops.tracking import MLflowTracking

        uri = tracking if isinstance(tracking, str) else None
        hooks.append(MLflowTracking(uri, workspace=workspace))
    graph = load_dag(dag) if isinstance(dag, str | Path) else dag
    plan = PipelineDAGCompiler(config_path).compile_to_plan(graph)
    return LocalRunner(
        plan,
        workspace=workspace,
        workers=workers,
        use_cache=use_cache,
        hooks=hooks,
        registry_uri=registry_uri,
    ).run()
