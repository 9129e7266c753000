"""The fork server dying while a step runs (seen once in CI, under load) must not fail the step:
multiprocessing then reports exit code 255 at once while the orphaned step process runs on.

The step here reads its table from a named pipe, so it is held inside `main` until the test writes
the table: the fork server is killed at a moment the test chooses, not at a racy one.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from multiprocessing import forkserver
from pathlib import Path

from _runner_support import run_record, write_config, write_dag

from cursus.backends.local import RunResult
from cursus.backends.local.processes import pid_alive
from cursus.targets import run_pipeline

ROWS = 40


def table_text() -> str:
    return "x1,x2,label\n" + "".join(f"{i},{(i * 7) % 11},{i % 2}\n" for i in range(ROWS))


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def start_run(tmp_path: Path) -> tuple[Path, Path, dict[str, RunResult]]:
    pipe = tmp_path / "table.csv"
    os.mkfifo(pipe)
    dag = write_dag(tmp_path / "dag.json", ["DataLoading_training"], [])
    config = write_config(tmp_path / "c.json", dag, DataLoading_training={"data_source": str(pipe)})
    ws = tmp_path / "ws"
    outcome: dict[str, RunResult] = {}

    def run() -> None:
        outcome["result"] = run_pipeline(dag, config, workspace=ws, use_cache=False, tracking=False)

    threading.Thread(target=run, daemon=True).start()
    return pipe, ws, outcome


def step_log(ws: Path) -> Path | None:
    logs = list(ws.glob("runs/*/logs/DataLoading_training.log"))
    return logs[0] if logs and "data_loading.py.main" in logs[0].read_text() else None


def kill_fork_server() -> int:
    pid = forkserver._forkserver._forkserver_pid
    assert pid and pid_alive(pid)
    os.kill(pid, signal.SIGKILL)
    return pid


def step_processes(server_pid: int) -> list[int]:
    """The fork server's children: the step processes it forked."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


def feed(pipe: Path, seconds: float = 60) -> None:
    """Write the table once the step has opened the pipe to read (a failure, not a hang, if it
    never does)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:  # ENXIO: no reader yet
            if time.monotonic() > deadline:
                raise AssertionError("the step never opened its table") from None
            time.sleep(0.02)
    os.set_blocking(fd, True)
    with os.fdopen(fd, "w") as handle:
        handle.write(table_text())


def test_a_step_outlives_its_lost_fork_server_and_its_result_counts(tmp_path):
    pipe, ws, outcome = start_run(tmp_path)
    log = wait_for(lambda: step_log(ws), 60, "the step to enter main")
    kill_fork_server()
    time.sleep(0.3)  # the runner notices at once; the step is still waiting for its table
    assert "result" not in outcome, "the run ended while its step still ran"
    feed(pipe)
    result = wait_for(lambda: outcome.get("result"), 60, "the run to end")

    step = result.steps["DataLoading_training"]
    assert result.ok, step.error
    assert step.status == "succeeded" and step.attempts == 1
    assert step.metrics["n_rows"] == ROWS  # the result the orphaned step itself wrote
    assert "the fork server was lost while the step ran" in log.read_text()
    (row,) = run_record(ws, result.run_id)["steps"]
    assert row["status"] == "succeeded" and row["outputs"]


def test_a_step_lost_with_its_fork_server_is_started_again_without_using_a_retry(tmp_path):
    pipe, ws, outcome = start_run(tmp_path)
    log = wait_for(lambda: step_log(ws), 60, "the step to enter main")
    server = forkserver._forkserver._forkserver_pid
    (first,) = step_processes(server)
    kill_fork_server()
    wait_for(lambda: "fork server was lost" in log.read_text(), 60, "the runner to notice")
    os.kill(first, signal.SIGKILL)  # the orphaned step dies too: it leaves no result
    wait_for(lambda: "starting it again" in log.read_text(), 60, "the step to be started again")
    feed(pipe)
    result = wait_for(lambda: outcome.get("result"), 60, "the run to end")

    step = result.steps["DataLoading_training"]
    assert result.ok, step.error
    assert step.status == "succeeded" and step.attempts == 1  # no retry was configured or used
    assert step.metrics["n_rows"] == ROWS
    assert forkserver._forkserver._forkserver_pid != server  # a new server started the step
    assert log.read_text().count("data_loading.py.main") == 2
