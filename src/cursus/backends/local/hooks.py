"""Points in a run where tracking, data versioning, monitoring and progress displays attach.

The runner schedules and records; it knows nothing of MLflow or of terminals. It calls these
methods, from worker threads, at the moments their names say.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cursus.backends.local.runner import RunResult, StepResult
    from cursus.plan import Plan, PlanStep


class RunHooks:
    """Base class with do-nothing methods; override the ones you need.

    An orchestrator that runs one step per process (`LocalRunner.run_one`, Airflow's tasks)
    calls `before_pipeline_run` and `after_pipeline_run` around each step of the same run id;
    the result's status is "running" until the call that runs the run's last step."""

    def before_pipeline_run(self, run_id: str, plan: Plan) -> None: ...

    def before_step_run(self, run_id: str, step: PlanStep) -> None: ...

    def after_step_run(self, run_id: str, step: PlanStep, result: StepResult) -> None: ...

    def on_step_error(self, run_id: str, step: PlanStep, result: StepResult) -> None: ...

    def after_pipeline_run(self, result: RunResult) -> None: ...
