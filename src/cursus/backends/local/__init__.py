"""The local backend: run a Plan on this machine."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cursus.backends.local.hooks import RunHooks
from cursus.backends.local.runner import LocalRunner, RunResult, StepResult

__all__ = ["LocalRunner", "RunHooks", "RunResult", "StepResult", "run_pipeline"]


def run_pipeline(
    dag: Any,
    config_path: str | Path,
    workspace: str | Path | None = None,
    workers: int | None = None,
    use_cache: bool = True,
    hooks: Sequence[RunHooks] = (),
) -> RunResult:
    """Compile `dag` (a PipelineDAG, a DAG file or a bundled DAG name) with `config_path` and run it here."""
    from cursus.api.loading import load_dag
    from cursus.core.compiler import PipelineDAGCompiler

    graph = load_dag(dag) if isinstance(dag, str | Path) else dag
    plan = PipelineDAGCompiler(config_path).compile_to_plan(graph)
    return LocalRunner(
        plan, workspace=workspace, workers=workers, use_cache=use_cache, hooks=hooks
    ).run()
