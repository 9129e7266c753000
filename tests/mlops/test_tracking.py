"""Tracking through a runner hook: one MLflow run per pipeline run, one nested run per step, with
the step's config as params, its results and hardware use as metrics, its plots as artifacts."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from _mlops_support import TrackedE2E
from mlflow import MlflowClient

from cursus.api.loading import load_dag
from cursus.backends.local import StepResult
from cursus.mlops.tracking import MLflowTracking, dag_digest, flatten, git_commit, mlflow_client
from cursus.plan import Plan, PlanStep

REPO = Path(__file__).resolve().parents[2]


def runs_of(client: MlflowClient, mlflow_run_id: str) -> dict[str, object]:
    parent = client.get_run(mlflow_run_id)
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{mlflow_run_id}'",
        max_results=100,
    )
    return {"parent": parent, **{r.info.run_name: r for r in children}}


def test_flatten_gives_dot_keys_and_json_values() -> None:
    config = {"eta": 0.1, "hyperparameters": {"max_depth": 6, "dims": [64, 32]}, "role": None}
    assert flatten(config) == {
        "eta": "0.1",
        "hyperparameters.max_depth": "6",
        "hyperparameters.dims": "[64, 32]",
        "role": "null",
    }
    assert flatten({"a b/c:d": "x" * 7000})["a b/c_d"] == "x" * 6000


def test_git_commit_is_none_outside_a_repository(tmp_path: Path) -> None:
    assert git_commit(tmp_path) is None
    assert git_commit(tmp_path / "missing") is None


def test_each_run_is_a_parent_run_with_a_nested_run_per_step(tracked_e2e: TrackedE2E) -> None:
    assert tracked_e2e.errors == []
    client = MlflowClient(tracked_e2e.uri)
    runs = runs_of(client, tracked_e2e.mlflow_ids[tracked_e2e.first.run_id])
    parent = runs.pop("parent")
    assert sorted(runs) == sorted(s.name for s in tracked_e2e.plan.steps)
    assert parent.info.run_name == tracked_e2e.first.run_id
    assert parent.info.status == "FINISHED"
    assert client.get_experiment(parent.info.experiment_id).name == "xgboost-e2e"
    tags = parent.data.tags
    assert tags["pipeline_name"] == "xgboost-e2e"
    assert tags["pipeline_version"] == tracked_e2e.plan.pipeline["pipeline_version"]
    assert tags["author"] == "ada"
    # the DAG file's digest: the template registry and the catalog use the same one
    expected_dag = hashlib.sha256(load_dag("xgboost_e2e").to_json().encode())
    assert tags["dag_digest"] == expected_dag.hexdigest() == dag_digest(tracked_e2e.plan.dag)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=".")
    if head.returncode == 0:
        assert tags["git_commit"] == head.stdout.strip()
    else:
        assert "git_commit" not in tags
    assert tags["registered_model"] == "xgboost-e2e:1"
    # the parent carries every step's metrics under '<step>.<metric>'
    val_auc = tracked_e2e.first.steps["XGBoostTraining"].metrics["val_auc"]
    assert parent.data.metrics["XGBoostTraining.val_auc"] == pytest.approx(val_auc)


def test_step_runs_hold_params_metrics_artifacts_and_hardware(tracked_e2e: TrackedE2E) -> None:
    client = MlflowClient(tracked_e2e.uri)
    runs = runs_of(client, tracked_e2e.mlflow_ids[tracked_e2e.first.run_id])
    training = runs["XGBoostTraining"]
    step = tracked_e2e.plan.step("XGBoostTraining")
    assert training.data.params["hyperparameters.eta"] == str(step.config["hyperparameters"]["eta"])
    assert training.data.params["label_field"] == step.config["label_field"]
    result = tracked_e2e.first.steps["XGBoostTraining"]
    for key, value in result.metrics.items():
        assert training.data.metrics[key] == pytest.approx(value)
    assert training.data.tags["cache_hit"] == "false"
    assert training.data.tags["step_type"] == "XGBoostTraining"
    assert training.info.status == "FINISHED"
    assert [a.path for a in client.list_artifacts(training.info.run_id)] == ["training_metrics"]

    evaluation = runs["XGBoostModelEval_calibration"]
    files = {a.path for a in client.list_artifacts(evaluation.info.run_id, "metrics_output")}
    assert {"metrics_output/roc_curve.png", "metrics_output/metrics.json"} <= files
    calibration = runs["ModelCalibration_calibration"]
    assert "brier_after" in calibration.data.metrics

    hardware = {k: v for k, v in training.data.metrics.items() if k.startswith("hardware.")}
    assert hardware == pytest.approx({f"hardware.{k}": v for k, v in result.hardware.items()})
    assert hardware["hardware.cpu_user_seconds"] > 0
    assert 0 < hardware["hardware.cpu_seconds"] <= hardware["hardware.wall_seconds"] * 64
    assert 30 < hardware["hardware.peak_rss_mb"] < 16_000
    assert hardware["hardware.peak_rss_mb"] >= hardware["hardware.rss_increase_mb"]


def test_the_cached_run_is_tracked_with_cache_hit(tracked_e2e: TrackedE2E) -> None:
    client = MlflowClient(tracked_e2e.uri)
    runs = runs_of(client, tracked_e2e.mlflow_ids[tracked_e2e.cached.run_id])
    parent = runs.pop("parent")
    assert parent.info.status == "FINISHED"
    assert {r.data.tags["cache_hit"] for r in runs.values()} == {"true"}
    training = runs["XGBoostTraining"]
    assert training.data.metrics["val_auc"] == pytest.approx(
        tracked_e2e.first.steps["XGBoostTraining"].metrics["val_auc"]
    )
    assert not any(k.startswith("hardware.") for k in training.data.metrics)  # nothing ran
    assert [a.path for a in client.list_artifacts(training.info.run_id)] == ["training_metrics"]


def test_hardware_is_in_result_json_and_the_run_records(tracked_e2e: TrackedE2E) -> None:
    from cursus.backends.local.records import RunRecords

    run_dir = tracked_e2e.workspace / "runs" / tracked_e2e.first.run_id
    outcome = json.loads((run_dir / "XGBoostTraining" / "attempt-1" / "result.json").read_text())
    assert outcome["hardware"] == tracked_e2e.first.steps["XGBoostTraining"].hardware
    record = RunRecords(tracked_e2e.workspace / "runs.db").get_run(tracked_e2e.first.run_id)
    steps = {s["name"]: s for s in record["steps"]}
    assert steps["XGBoostTraining"]["hardware"]["peak_rss_mb"] > 30
    cached = RunRecords(tracked_e2e.workspace / "runs.db").get_run(tracked_e2e.cached.run_id)
    assert {json.dumps(s["hardware"]) for s in cached["steps"]} == {"{}"}


def test_old_run_databases_get_the_hardware_column(tmp_path: Path) -> None:
    import sqlite3

    from cursus.backends.local.records import RunRecords

    db = tmp_path / "runs.db"
    with sqlite3.connect(db) as con:
        con.execute(
            "CREATE TABLE steps (run_id TEXT NOT NULL, name TEXT NOT NULL, step_type TEXT NOT NULL,"
            " status TEXT NOT NULL, cache_key TEXT, cache_hit INTEGER NOT NULL DEFAULT 0,"
            " attempts INTEGER NOT NULL DEFAULT 0, started REAL, ended REAL,"
            " outputs TEXT NOT NULL DEFAULT '{}', metrics TEXT NOT NULL DEFAULT '{}', error TEXT,"
            " log_path TEXT, PRIMARY KEY (run_id, name))"
        )
        con.execute(
            "INSERT INTO steps (run_id, name, step_type, status) VALUES ('r', 's', 't', 'x')"
        )
    RunRecords(db)
    RunRecords(db)  # a second open finds the column there
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT hardware FROM steps").fetchall() == [("{}",)]


def _step(name: str, depends_on: list[str] | None = None) -> PlanStep:
    return PlanStep(
        name=name,
        step_type="Demo",
        job_type=None,
        job_kind="processing",
        framework="sklearn",
        depends_on=depends_on or [],
        config={"alpha": 1, "nested": {"beta": "x"}},
        inputs={},
        outputs={"report": {"kind": "metrics"}},
        script={"entry_point": "demo.py", "sha256": "0"},
        spec_digest="0",
    )


def test_failed_and_skipped_steps_and_failed_runs(
    tmp_path: Path, new_store: Callable[[Path], str]
) -> None:
    """Hooks called the way the runner calls them, from several threads' worth of events."""
    from cursus.backends.local import RunResult

    report = tmp_path / "report"
    report.mkdir()
    (report / "plot.png").write_bytes(b"\x89PNG")
    (report / "notes.txt").write_text("not a report")
    a, b, c = _step("A"), _step("B", ["A"]), _step("C", ["B"])
    plan = Plan(pipeline={"pipeline_name": "demo", "pipeline_version": "0.1", "author": "me"},
                dag={"nodes": ["A", "B", "C"]}, steps=[a, b, c])  # fmt: skip
    uri = new_store(tmp_path)
    tracking = MLflowTracking(uri, experiment="demo-exp")
    ok = StepResult("A", "succeeded", outputs={"report": str(report)}, metrics={"m": 2.0},
                    hardware={"peak_rss_mb": 120.0}, seconds=0.5, attempts=1)  # fmt: skip
    failed = StepResult("B", "failed", error="ValueError: bad input", attempts=2)
    skipped = StepResult("C", "skipped", error="upstream B did not succeed")
    tracking.before_pipeline_run("run-1", plan)
    tracking.before_step_run("run-1", a)
    tracking.after_step_run("run-1", a, ok)
    tracking.before_step_run("run-1", b)
    tracking.on_step_error("run-1", b, failed)
    tracking.after_step_run("run-1", c, skipped)
    tracking.after_pipeline_run(RunResult("run-1", "failed", str(tmp_path), {}, 1.0))
    assert tracking.errors == []

    client = mlflow_client(uri)
    runs = runs_of(client, tracking.mlflow_run_ids["run-1"])
    assert runs["parent"].info.status == "FAILED"
    assert client.get_experiment(runs["parent"].info.experiment_id).name == "demo-exp"
    assert runs["A"].info.status == "FINISHED"
    assert runs["A"].data.params == {"alpha": "1", "nested.beta": "x"}
    assert runs["A"].data.metrics == {"m": 2.0, "hardware.peak_rss_mb": 120.0, "seconds": 0.5}
    assert [f.path for f in client.list_artifacts(runs["A"].info.run_id, "report")] == [
        "report/plot.png"
    ]
    assert runs["B"].info.status == "FAILED"
    assert runs["B"].data.tags["error"] == "ValueError: bad input"
    assert runs["B"].data.tags["attempts"] == "2"
    assert runs["C"].info.status == "KILLED"
    assert runs["C"].data.params == {"alpha": "1", "nested.beta": "x"}
    assert runs["C"].data.tags["status"] == "skipped"


def test_a_registration_that_found_no_tracked_run_is_nested_under_its_step(
    tmp_path: Path, new_store: Callable[[Path], str]
) -> None:
    """A short run's writer starts when the run ends, so its Registration step found no MLflow
    run of its pipeline and gave the version a run of its own; tracking nests that run under
    the step's and tags the version with both runs."""
    import dataclasses

    from _mlops_support import make_package

    from cursus.backends.local import RunResult
    from cursus.steps.library import BUNDLED_LIBRARY

    sys.path.insert(0, str(BUNDLED_LIBRARY))
    import registration

    uri = new_store(tmp_path / "store")
    package = make_package(tmp_path / "pkg")
    out = tmp_path / "registration_output"
    environ = {"MODEL_NAME": "churn", "MODEL_REGISTRY_URI": uri, "PIPELINE_NAME": "demo",
               "CURSUS_RUN_ID": "run-1"}  # fmt: skip
    registration.main({"packaged_model": str(package.parent)}, {"registration_output": str(out)},
                      environ, {})  # fmt: skip
    step = dataclasses.replace(
        _step("Registration"), job_kind="register", outputs={"registration_output": {}}
    )
    plan = Plan(pipeline={"pipeline_name": "demo"}, dag={"nodes": [step.name]}, steps=[step])
    tracking = MLflowTracking(uri, experiment="demo")
    tracking.before_pipeline_run("run-1", plan)
    tracking.before_step_run("run-1", step)
    result = StepResult(step.name, "succeeded", outputs={"registration_output": str(out)})
    tracking.after_step_run("run-1", step, result)
    tracking.after_pipeline_run(RunResult("run-1", "succeeded", str(tmp_path), {}, 0.1))
    assert tracking.errors == []
    client = mlflow_client(uri)
    runs = runs_of(client, tracking.mlflow_run_ids["run-1"])
    version = client.get_model_version("churn", "1")
    own = client.get_run(version.run_id)
    assert own.info.run_name == "register-churn"
    assert own.data.tags["mlflow.parentRunId"] == runs["Registration"].info.run_id
    assert version.tags["mlflow_run_id"] == runs["parent"].info.run_id
    assert runs["Registration"].data.tags["registered_model"] == "churn:1"


def _tracked_in_the_background(
    tmp_path: Path, uri: str, monkeypatch: pytest.MonkeyPatch, start_after: float
) -> MLflowTracking:
    """A one-step run told to a background (process) writer that starts `start_after` in."""
    from cursus.backends.local import RunResult
    from cursus.mlops import tracking as tracking_module

    monkeypatch.setattr(tracking_module, "WRITER_START_SECONDS", start_after)
    step = _step("A")
    plan = Plan(pipeline={"pipeline_name": "demo"}, dag={"nodes": ["A"]}, steps=[step])
    tracking = MLflowTracking(uri, experiment="late", workspace=tmp_path / "ws", background=True)
    tracking.before_pipeline_run("run-1", plan)
    tracking.before_step_run("run-1", step)
    tracking.after_step_run("run-1", step, StepResult("A", "cached", attempts=0))
    assert tracking._writer.proc is None  # type: ignore[union-attr]  # nothing started yet
    tracking.after_pipeline_run(RunResult("run-1", "succeeded", str(tmp_path), {}, 0.1))
    return tracking


def test_a_run_shorter_than_the_writer_delay_is_written_when_it_ends(
    tmp_path: Path, new_store: Callable[[Path], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer process (over a second of CPU to import MLflow) starts when the run ends, and
    writes every event the run buffered meanwhile."""
    uri = new_store(tmp_path / "store")
    tracking = _tracked_in_the_background(tmp_path, uri, monkeypatch, start_after=600)
    assert tracking._writer.proc is not None  # type: ignore[union-attr]  # started by the end
    assert tracking.wait(timeout=120)
    client = MlflowClient(uri)
    (parent,) = client.search_runs(
        [client.get_experiment_by_name("late").experiment_id], "attributes.run_name = 'run-1'"
    )
    assert parent.info.status == "FINISHED"
    assert runs_of(client, parent.info.run_id)["A"].data.tags["cache_hit"] == "true"


def test_a_run_interrupted_before_the_writer_started_is_tracked_as_killed(
    tmp_path: Path, new_store: Callable[[Path], str]
) -> None:
    """Ctrl-C ends `cursus run` by an exception, and no hook hears of the end: the events that
    waited for the writer are handed over as the process exits, and the writer marks the runs
    they left open KILLED."""
    uri = new_store(tmp_path / "store")
    code = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_tracking import _step
from cursus.mlops.tracking import MLflowTracking
from cursus.plan import Plan
step = _step("A")
plan = Plan(pipeline={{"pipeline_name": "demo"}}, dag={{"nodes": ["A"]}}, steps=[step])
tracking = MLflowTracking({uri!r}, experiment="cut", workspace={str(tmp_path / "ws")!r},
                          background=True)
tracking.before_pipeline_run("run-1", plan)
tracking.before_step_run("run-1", step)
raise KeyboardInterrupt
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "KeyboardInterrupt" in done.stderr
    client = MlflowClient(uri)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        experiment = client.get_experiment_by_name("cut")
        found = experiment and client.search_runs([experiment.experiment_id])
        if found and all(r.info.status == "KILLED" for r in found):
            break
        time.sleep(0.2)
    assert sorted((r.info.run_name, r.info.status) for r in found) == [
        ("A", "KILLED"),
        ("run-1", "KILLED"),
    ]


def test_a_writer_that_cannot_start_loses_the_tracking_not_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("no more processes")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    tracking = _tracked_in_the_background(
        tmp_path, f"sqlite:///{tmp_path}/mlflow.db", monkeypatch, start_after=600
    )
    assert "cannot start the writer process: no more processes" in caplog.text
    assert tracking.wait(timeout=1) is False  # its events were never written, and it says so


def test_a_store_that_cannot_be_opened_never_fails_the_run(tmp_path: Path) -> None:
    from cursus.backends.local import RunResult

    blocker = tmp_path / "file"
    blocker.write_text("")
    tracking = MLflowTracking(f"sqlite:///{blocker / 'sub' / 'mlflow.db'}")
    plan = Plan(pipeline={"pipeline_name": "demo"}, dag={}, steps=[_step("A")])
    tracking.before_pipeline_run("run-1", plan)
    tracking.after_pipeline_run(RunResult("run-1", "succeeded", str(tmp_path), {}, 0.1))
    assert tracking.errors


@pytest.mark.slow
def test_background_writer_finishes_after_the_run(tracked_e2e: TrackedE2E, tmp_path: Path) -> None:
    """What `cursus run` uses: a separate writer process that outlives the hook's calls."""
    from cursus.backends.local import LocalRunner

    tracking = MLflowTracking(
        workspace=tracked_e2e.workspace, experiment="background", background=True
    )
    result = LocalRunner(tracked_e2e.plan, workspace=tracked_e2e.workspace, hooks=[tracking]).run()
    assert result.ok
    assert tracking.wait(timeout=120)
    client = MlflowClient(tracked_e2e.uri)
    experiment = client.get_experiment_by_name("background")
    (parent,) = client.search_runs(
        [experiment.experiment_id], f"attributes.run_name = '{result.run_id}'"
    )
    assert parent.info.status == "FINISHED"
    assert len(runs_of(client, parent.info.run_id)) == 1 + len(tracked_e2e.plan.steps)
    log = (
        (tracked_e2e.workspace / "tracking.log").read_text()
        if (tracked_e2e.workspace / "tracking.log").exists()
        else ""
    )
    assert "Traceback" not in log


def test_cursus_help_does_not_import_mlflow() -> None:
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom cursus.cli.main import cli\n"
        "for args in (['--help'], ['run', '--help'], ['models', '--help'], ['mlops', '--help']):\n"
        "    assert CliRunner().invoke(cli, args).exit_code == 0, args\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mlflow', 'sqlalchemy', 'dvc')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_run_made_of_one_task_per_step_is_one_tracked_run(
    tmp_path: Path, new_store: Callable[[Path], str]
) -> None:
    """What Airflow's tasks do: `cursus step run PLAN STEP --run-id ID` once per step, each its
    own call. The run path is `cursus run`'s: one parent run, a nested run per step, closed by
    the task that finishes the run; the data lineage is recorded too."""
    from click.testing import CliRunner

    from cursus.cli.main import cli
    from cursus.core.config_file import default_configs, save_configs
    from cursus.core.planner import compile_plan
    from cursus.mlops.data import data_inputs

    configs = default_configs(load_dag("xgboost_simple"), pipeline_name="per-task")
    configs["XGBoostTraining"].hyperparameters.num_round = 5
    config = save_configs(configs, tmp_path / "config.json")
    plan_file = compile_plan("xgboost_simple", config).save(tmp_path / "plan.json")
    uri = new_store(tmp_path / "store")
    workspace = tmp_path / "ws"
    client = MlflowClient(uri)
    steps = Plan.load(plan_file).steps
    for index, step in enumerate(steps):
        result = CliRunner().invoke(
            cli,
            ["step", "run", str(plan_file), step.name, "--run-id", "airflow-run-1",
             "--workspace", str(workspace), "--tracking-uri", uri],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        experiment = client.get_experiment_by_name("per-task")
        parents = client.search_runs(
            [experiment.experiment_id], "tags.cursus_pipeline_run = 'true'"
        )
        assert len(parents) == 1  # found again by every task, never made twice
        assert parents[0].info.status == ("FINISHED" if index == len(steps) - 1 else "RUNNING")
    children = client.search_runs(
        [experiment.experiment_id], f"tags.mlflow.parentRunId = '{parents[0].info.run_id}'"
    )
    assert sorted(r.info.run_name for r in children) == sorted(
        s.name for s in Plan.load(plan_file).steps
    )
    assert {r.data.tags["status"] for r in children} == {"succeeded"}
    assert [row["node"] for row in data_inputs(workspace, "airflow-run-1")] == [
        "DataLoading_training"
    ]


def test_a_new_store_is_a_copy_of_an_empty_one_made_once_per_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Creating MLflow's tables costs ~2 s of migrations on a workspace's first run; once an empty
    store of the installed MLflow exists (built in the background the first time), a new store
    is a copy of it, which MLflow opens as its own."""
    import importlib.metadata
    import sqlite3
    import time

    from cursus.mlops.tracking import mlflow_client, prepare_store, store_template

    monkeypatch.setenv("CURSUS_STORE_CACHE", str(tmp_path / "cache"))
    template = store_template(importlib.metadata.version("mlflow"))
    first = f"sqlite:///{tmp_path / 'a' / 'mlflow.db'}"
    assert prepare_store(first) == "template building"
    deadline = time.monotonic() + 120
    while not template.is_file():
        assert time.monotonic() < deadline, "the empty store was not built"
        time.sleep(0.2)
    second = f"sqlite:///{tmp_path / 'b' / 'mlflow.db'}"
    (tmp_path / "b").mkdir()
    assert prepare_store(second) == "copied"
    assert prepare_store(second) == "exists"
    with sqlite3.connect(tmp_path / "b" / "mlflow.db") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"experiments", "runs", "registered_models", "alembic_version"} <= tables
    client = mlflow_client(second)
    run = client.create_run(client.create_experiment("copied"))
    client.log_metric(run.info.run_id, "auc", 0.9)
    assert client.get_run(run.info.run_id).data.metrics == {"auc": 0.9}
    assert prepare_store("http://127.0.0.1:5000") == "not sqlite"
