"""The background writer starts seconds into a run; until then the run's events wait in a locked
spool file. A run killed before its writer started (kill -9) leaves the spool behind, and the next
tracked run's writer writes it, with what the dead run left open marked KILLED; a spool whose run
is alive is never taken."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow import MlflowClient
from test_tracking import _step, runs_of

from cursus.backends.local import RunResult, StepResult
from cursus.mlops import tracking as tracking_module
from cursus.mlops.tracking import SPOOL_FOLDER, MLflowTracking
from cursus.plan import Plan

HERE = Path(__file__).parent


def _one_step_run(uri: str, workspace: Path, experiment: str, run_id: str) -> MLflowTracking:
    """A whole one-step run told to a background writer; returns once the writer has started."""
    step = _step("A")
    plan = Plan(pipeline={"pipeline_name": "demo"}, dag={"nodes": ["A"]}, steps=[step])
    tracking = MLflowTracking(uri, experiment=experiment, workspace=workspace, background=True)
    tracking.before_pipeline_run(run_id, plan)
    tracking.before_step_run(run_id, step)
    tracking.after_step_run(run_id, step, StepResult("A", "succeeded", attempts=1))
    tracking.after_pipeline_run(RunResult(run_id, "succeeded", str(workspace), {}, 0.1))
    return tracking


def _parents(client: MlflowClient, experiment: str) -> list[tuple[str, str]]:
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    runs = client.search_runs([found.experiment_id], "tags.cursus_pipeline_run = 'true'")
    return sorted((r.info.run_name, r.info.status) for r in runs)


def test_a_run_killed_before_its_writer_started_is_written_by_the_next_run(
    tmp_path: Path, new_store: Callable[[Path], str]
) -> None:
    uri = new_store(tmp_path / "store")
    workspace = tmp_path / "ws"
    code = f"""
import os, signal, sys
sys.path.insert(0, {str(HERE)!r})
from test_tracking import _step
from cursus.backends.local import StepResult
from cursus.mlops.tracking import MLflowTracking
from cursus.plan import Plan
a, b = _step("A"), _step("B", ["A"])
plan = Plan(pipeline={{"pipeline_name": "demo"}}, dag={{"nodes": ["A", "B"]}}, steps=[a, b])
tracking = MLflowTracking({uri!r}, experiment="cut", workspace={str(workspace)!r},
                          background=True)
tracking.before_pipeline_run("run-1", plan)
tracking.before_step_run("run-1", a)
tracking.after_step_run("run-1", a, StepResult("A", "succeeded", metrics={{"m": 1.5}}, attempts=1))
tracking.before_step_run("run-1", b)
os.kill(os.getpid(), signal.SIGKILL)
"""
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (spool,) = (workspace / SPOOL_FOLDER).glob("*.jsonl")
    client = MlflowClient(uri)
    assert _parents(client, "cut") == []  # no writer ever ran for it

    later = _one_step_run(uri, workspace, "later", "run-2")
    assert later.wait(timeout=120)
    assert _parents(client, "later") == [("run-2", "FINISHED")]
    assert _parents(client, "cut") == [("run-1", "KILLED")]
    (parent,) = client.search_runs(
        [client.get_experiment_by_name("cut").experiment_id], "attributes.run_name = 'run-1'"
    )
    runs = runs_of(client, parent.info.run_id)
    assert runs["A"].info.status == "FINISHED"
    assert runs["A"].data.metrics["m"] == 1.5
    assert runs["B"].info.status == "KILLED"  # it was running when its runner died
    assert not spool.exists()
    assert list((workspace / SPOOL_FOLDER).iterdir()) == []


def test_a_spool_whose_run_is_alive_is_left_to_it(
    tmp_path: Path, new_store: Callable[[Path], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs in one workspace: the second ends (and starts its writer) while the first still
    buffers; each run is written once, by its own writer, and finishes."""
    monkeypatch.setattr(tracking_module, "WRITER_START_SECONDS", 600)
    uri = new_store(tmp_path / "store")
    workspace = tmp_path / "ws"
    step = _step("A")
    plan = Plan(pipeline={"pipeline_name": "demo"}, dag={"nodes": ["A"]}, steps=[step])
    first = MLflowTracking(uri, experiment="first", workspace=workspace, background=True)
    first.before_pipeline_run("run-1", plan)
    first.before_step_run("run-1", step)

    second = _one_step_run(uri, workspace, "second", "run-2")
    assert "--orphan" not in second._writer.proc.args  # type: ignore[union-attr]
    assert second.wait(timeout=120)

    first.after_step_run("run-1", step, StepResult("A", "succeeded", attempts=1))
    first.after_pipeline_run(RunResult("run-1", "succeeded", str(workspace), {}, 0.1))
    assert first.wait(timeout=120)
    client = MlflowClient(uri)
    assert _parents(client, "first") == [("run-1", "FINISHED")]
    assert _parents(client, "second") == [("run-2", "FINISHED")]


def test_the_events_of_a_writer_that_could_not_start_are_written_by_the_next_run(
    tmp_path: Path,
    new_store: Callable[[Path], str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    uri = new_store(tmp_path / "store")
    workspace = tmp_path / "ws"
    real_popen = subprocess.Popen

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("no more processes")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    failed = _one_step_run(uri, workspace, "lost", "run-1")
    assert "cannot start the writer process: no more processes" in caplog.text
    assert "wait in" in caplog.text and "for the next tracked run" in caplog.text
    assert failed.wait(timeout=1) is False  # not written, and it says so

    monkeypatch.setattr(subprocess, "Popen", real_popen)
    later = _one_step_run(uri, workspace, "found", "run-2")
    assert later.wait(timeout=120)
    client = MlflowClient(uri)
    assert _parents(client, "lost") == [("run-1", "FINISHED")]  # it had ended: nothing was open
    assert _parents(client, "found") == [("run-2", "FINISHED")]


def test_a_spool_cut_off_mid_line_loses_only_that_line(
    tmp_path: Path, new_store: Callable[[Path], str]
) -> None:
    """A kill -9 between two writes of one line leaves half an event: the writer drops it, says
    so in tracking.log, and writes the rest."""
    uri = new_store(tmp_path / "store")
    workspace = tmp_path / "ws"
    folder = workspace / SPOOL_FOLDER
    folder.mkdir(parents=True)
    start = (
        '{"op": "pipeline_start", "run": "run-1", "time": 1, "experiment": "half", '
        f'"tags": {{"cursus_run_id": "run-1"}}, "cwd": "{tmp_path}"}}'
    )
    (folder / "1-dead.jsonl").write_text(
        f'{{"spool": 1, "uri": "{uri}"}}\n{start}\n{{"op": "step_sta'
    )
    later = _one_step_run(uri, workspace, "after", "run-2")
    assert later.wait(timeout=120)
    client = MlflowClient(uri)
    assert _parents(client, "half") == [("run-1", "KILLED")]
    deadline = time.monotonic() + 5
    while "unreadable event" not in (workspace / "tracking.log").read_text():
        assert time.monotonic() < deadline, (workspace / "tracking.log").read_text()
        time.sleep(0.1)
