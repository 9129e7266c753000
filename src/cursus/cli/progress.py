"""A live table of step states while a pipeline runs, and the summary after it."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from cursus.backends.local.hooks import RunHooks

if TYPE_CHECKING:
    from cursus.backends.local.runner import RunResult, StepResult
    from cursus.plan import Plan, PlanStep

STYLE = {
    "pending": "dim",
    "running": "yellow",
    "succeeded": "green",
    "cached": "cyan",
    "failed": "bold red",
    "skipped": "magenta",
}
# outputs a person looks for after a run, by kind
HEADLINE_KINDS = ("packaged_model", "payload", "registration_record", "metrics")


class LiveProgress(RunHooks):
    def __init__(self, console: Console) -> None:
        self.console = console
        self._lock = threading.Lock()
        self._state: dict[str, tuple[str, float, float | None]] = {}
        self._live: Live | None = None
        self._run_id = ""

    def before_pipeline_run(self, run_id: str, plan: Plan) -> None:
        self._run_id = run_id
        self._state = {s.name: ("pending", 0.0, None) for s in plan.steps}
        self._live = Live(
            self._table(), console=self.console, refresh_per_second=8, transient=False
        )
        self._live.start()

    def before_step_run(self, run_id: str, step: PlanStep) -> None:
        self._set(step.name, "running", time.perf_counter(), None)

    def after_step_run(self, run_id: str, step: PlanStep, result: StepResult) -> None:
        started = self._state[step.name][1] or time.perf_counter()
        self._set(step.name, result.status, started, time.perf_counter())

    on_step_error = after_step_run

    def after_pipeline_run(self, result: RunResult) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.stop()

    def _set(self, name: str, status: str, started: float, ended: float | None) -> None:
        with self._lock:
            self._state[name] = (status, started, ended)
            if self._live is not None:
                self._live.update(self._table())

    def _table(self) -> Table:
        table = Table(title=f"run {self._run_id}", title_justify="left", show_edge=False)
        table.add_column("step")
        table.add_column("status")
        table.add_column("seconds", justify="right")
        now = time.perf_counter()
        for name, (status, started, ended) in self._state.items():
            secs = (
                ""
                if status in ("pending", "skipped") or not started
                else f"{(ended or now) - started:.2f}"
            )
            table.add_row(escape(name), f"[{STYLE.get(status, '')}]{status}[/]", secs)
        return table


def print_summary(console: Console, result: RunResult, plan: Plan) -> None:
    console.print(
        f"run {escape(result.run_id)} [{'green' if result.ok else 'bold red'}]{result.status}[/] "
        f"in {result.seconds:.2f} s  (workspace {escape(str(result.workspace))})",
        highlight=False,
    )
    for step in plan.steps:
        res = result.steps[step.name]
        if res.status == "failed":
            # names, paths and errors are text from the user and the step: never markup
            console.print(
                f"[bold red]{escape(step.name)} failed[/]: {escape(str(res.error))}",
                highlight=False,
            )
            if res.log_path:
                console.print(f"  full log: {res.log_path}", markup=False, highlight=False)
        elif res.status == "skipped":
            console.print(
                f"[magenta]{escape(step.name)} skipped[/]: {escape(str(res.error))}",
                highlight=False,
            )
    for step in plan.steps:
        res = result.steps[step.name]
        if res.metrics and step.job_kind != "register":
            shown = ", ".join(f"{k}={_fmt(v)}" for k, v in res.metrics.items())
            console.print(f"{step.name}: {shown}", highlight=False, markup=False)
    for step in plan.steps:
        res = result.steps[step.name]
        for out, spec in step.outputs.items():
            if spec["kind"] in HEADLINE_KINDS[:3] and out in res.outputs:
                folder = Path(res.outputs[out])
                files = (
                    ", ".join(sorted(p.name for p in folder.iterdir())) if folder.is_dir() else ""
                )
                console.print(
                    f"{spec['kind']:20} {folder}  [{files}]", highlight=False, markup=False
                )


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4f}"
