"""The local backend: run a Plan on this machine (`cursus.targets.run_pipeline` compiles a DAG
and config and runs it here with the standard hooks)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cursus.backends.local.hooks import RunHooks

if TYPE_CHECKING:
    from cursus.backends.local.runner import LocalRunner, RunResult, StepResult

__all__ = ["LocalRunner", "RunHooks", "RunResult", "StepResult"]


def __getattr__(name: str) -> Any:
    """The runner (and the spec loader and pydantic behind it) loads on first use, so importing
    `cursus.backends.local.hooks` for a hook class stays cheap for the CLI."""
    if name in ("LocalRunner", "RunResult", "StepResult"):
        from cursus.backends.local import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
