"""The runner as real `cursus run` processes: killed with SIGKILL in the middle of a step and
resumed, and four at once on one workspace."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from _runner_support import (
    CURSUS,
    SMALL_SOURCE,
    assert_store_verifies,
    children,
    compile_plan,
    is_running,
    recorded_digests,
    run_record,
    statuses,
    write_config,
)

from cursus.backends.local import LocalRunner
from cursus.backends.local.records import RunRecords

# about 2 s of training on breast_cancer: long enough to be killed in the middle of it
SLOW_TRAINING = {"num_round": 2000, "eta": 0.001, "early_stopping_rounds": 100000, "nthread": 1}


def start_run(dag: str, config: Path, ws: Path, log: Path, *extra: str) -> subprocess.Popen:
    # files, not pipes: the fork server and the steps inherit them and may outlive the runner
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                CURSUS,
                "run",
                dag,
                "-c",
                str(config),
                "--workspace",
                str(ws),
                "--quiet",
                "--no-tracking",
                *extra,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ws.parent,
        )


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def training_started(ws: Path):
    """The run id once XGBoostTraining's script is running and the steps before it succeeded."""
    if not (ws / "runs.db").exists():
        return None
    runs = RunRecords(ws / "runs.db").list_runs()
    if not runs:
        return None
    run = run_record(ws, runs[0]["run_id"])
    rows = {s["name"]: s for s in run["steps"]}
    log = ws / "runs" / run["run_id"] / "logs" / "XGBoostTraining.log"
    if (
        rows["DataLoading_training"]["status"] == "succeeded"
        and rows["TabularPreprocessing_training"]["status"] == "succeeded"
        and rows["XGBoostTraining"]["status"] == "running"
        and log.is_file()
        and "xgboost_training.py.main" in log.read_text()
    ):
        return run["run_id"]
    return None


def step_processes(runner_pid: int) -> list[int]:
    """The fork server the runner started and the step processes it forked."""
    servers = [
        pid
        for pid in children(runner_pid)
        if "multiprocessing.forkserver" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    ]
    return servers + [pid for server in servers for pid in children(server)]


@pytest.mark.slow
def test_a_killed_run_resumes_without_redoing_finished_steps(tmp_path):
    ws = tmp_path / "ws"
    config = write_config(
        tmp_path / "c.json",
        "xgboost_simple",
        DataLoading_training={"data_source": SMALL_SOURCE},
        XGBoostTraining={"hyperparameters": SLOW_TRAINING},
    )
    runner = start_run("xgboost_simple", config, ws, tmp_path / "killed.log")
    try:
        killed_id = wait_for(lambda: training_started(ws), 120, "XGBoostTraining to start")
        time.sleep(0.3)
        orphans = step_processes(runner.pid)
        assert len(orphans) >= 2, "expected the fork server and the training step"
        runner.send_signal(signal.SIGKILL)
        # not reaped yet: the runner is a zombie, and its step must stop anyway
        wait_for(lambda: not any(is_running(p) for p in orphans), 10, "the orphaned step to exit")
    finally:
        runner.kill()
        runner.wait()

    # the killed step never finished: no result, nothing committed for it
    killed_rows = {s["name"]: s for s in run_record(ws, killed_id)["steps"]}
    assert (
        killed_rows["XGBoostTraining"]["status"] == "interrupted"
    )  # it was running when the runner died
    assert not (ws / "runs" / killed_id / "XGBoostTraining" / "attempt-1" / "result.json").exists()
    listed = subprocess.run(
        [CURSUS, "runs", "list", "--workspace", str(ws)], capture_output=True, text=True, check=True
    )
    (line,) = [ln for ln in listed.stdout.splitlines() if ln.startswith(killed_id)]
    assert "interrupted" in line

    result = LocalRunner(compile_plan("xgboost_simple", config), workspace=ws).run()
    assert result.ok
    assert statuses(result) == {
        "DataLoading_training": "cached",
        "TabularPreprocessing_training": "cached",
        "XGBoostTraining": "succeeded",
    }
    for name in ("DataLoading_training", "TabularPreprocessing_training"):
        assert result.steps[name].digests == killed_rows[name]["outputs"]
    assert recorded_digests(ws) <= set(assert_store_verifies(ws))
    assert RunRecords(ws / "runs.db").get_run(killed_id)["status"] == "interrupted"


@pytest.mark.slow
def test_four_runs_at_once_on_one_workspace(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    config = write_config(
        tmp_path / "c.json", "xgboost_simple", DataLoading_training={"data_source": SMALL_SOURCE}
    )
    runners = [start_run("xgboost_simple", config, ws, tmp_path / f"run{i}.log") for i in range(4)]
    codes = [r.wait(timeout=240) for r in runners]
    logs = [(tmp_path / f"run{i}.log").read_text() for i in range(4)]
    assert codes == [0, 0, 0, 0], logs

    db = sqlite3.connect(ws / "runs.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        runs = db.execute("SELECT run_id, status, ended FROM runs").fetchall()
        assert len(runs) == 4 and all(status == "succeeded" and ended for _, status, ended in runs)
        steps = db.execute("SELECT status, COUNT(*) FROM steps GROUP BY status").fetchall()
    finally:
        db.close()
    assert sum(n for _, n in steps) == 4 * 3
    assert {s for s, _ in steps} <= {"succeeded", "cached"}

    # every run recorded the same artifacts, and the one stored copy of each verifies
    per_run = [
        {s["name"]: s["outputs"] for s in run_record(ws, run_id)["steps"]} for run_id, _, _ in runs
    ]
    assert all(outputs == per_run[0] for outputs in per_run)
    assert recorded_digests(ws) <= set(assert_store_verifies(ws))
    assert not list((ws / "artifacts" / "objects").glob(".trash-*"))
    model_digest = per_run[0]["XGBoostTraining"]["model_output"]
    assert (ws / "artifacts" / "objects" / model_digest / "model.json").is_file()
