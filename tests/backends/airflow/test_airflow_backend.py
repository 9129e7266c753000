"""Plan -> Airflow DAG file: imports cleanly, mirrors the DAG, and `airflow dags test` runs it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from cursus.api.loading import load_dag
from cursus.backends.airflow import AirflowCompileError, render_dag_file, write_dag_file
from cursus.cli.main import cli
from cursus.core.compiler import PipelineDAGCompiler
from cursus.core.config_file import default_configs, save_configs

INSPECT = """
import json, sys
try:  # Airflow 2
    from airflow.models.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
except (ImportError, TypeError):  # Airflow 3
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
dag = bag.get_dag(sys.argv[2])
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "edges": sorted([u, d] for u in dag.task_ids for d in dag.get_task(u).downstream_task_ids) if dag else None,
    "schedule": (getattr(dag.timetable, "_expression", None) or getattr(dag.timetable, "expression", None)) if dag else None,
    "owner": dag.default_args.get("owner") if dag else None,
    "retries": {t.task_id: t.retries for t in dag.tasks} if dag else None,
    "timeouts": {t.task_id: t.execution_timeout.total_seconds() for t in dag.tasks} if dag else None,
}))
"""


def _config(tmp_path: Path, dag: str = "xgboost_e2e", **shared: object) -> Path:
    values = {"pipeline_name": dag.replace("_", "-"), **shared}
    return save_configs(default_configs(load_dag(dag), **values), tmp_path / f"{dag}.json")


def _plan(config: Path, dag: str = "xgboost_e2e"):
    return PipelineDAGCompiler(config).compile_to_plan(load_dag(dag))


def test_dag_file_imports_and_mirrors_the_dag(
    tmp_path: Path, airflow_python: Path, airflow_home: dict
) -> None:
    config = _config(
        tmp_path, schedule="0 3 * * *", author="ml-team", retries=2, max_runtime_seconds=600
    )
    dags = tmp_path / "dags"
    write_dag_file(_plan(config), dags / "xgb.py", workspace=str(tmp_path / "ws"))
    assert (dags / "xgb.plan.json").is_file()
    done = subprocess.run(
        [str(airflow_python), "-c", INSPECT, str(dags), "xgboost-e2e"],
        env=airflow_home,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["errors"] == {}
    assert seen["edges"] == sorted([a, b] for a, b in load_dag("xgboost_e2e").edges)
    assert seen["schedule"] == "0 3 * * *" and seen["owner"] == "ml-team"
    assert set(seen["retries"].values()) == {2}
    assert set(seen["timeouts"].values()) == {600.0}


def test_airflow_runs_the_pipeline_and_shares_results_with_cursus_run(
    tmp_path: Path, airflow_python: Path, airflow_home: dict
) -> None:
    """`airflow dags test` runs every task to success (xgboost_simple: three tasks with their
    dependencies; the e2e DAG's ten are checked by import above). Its tasks go through the run
    path of `cursus run`: one tracked MLflow run, closed by the last task, and a cache that
    `cursus run` then finds full."""
    config = _config(tmp_path, dag="xgboost_simple")
    workspace = tmp_path / "ws"
    dags = Path(airflow_home["AIRFLOW__CORE__DAGS_FOLDER"])
    write_dag_file(
        _plan(config, "xgboost_simple"), dags / "xgb_simple.py", workspace=str(workspace)
    )
    airflow = str(airflow_python.parent / "airflow")
    done = subprocess.run(
        [airflow, "dags", "test", "xgboost-simple"],
        env=airflow_home,
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert "state=success" in log

    from cursus.backends.local.records import RunRecords

    records = RunRecords(workspace / "runs.db")
    runs = records.list_runs()
    assert len(runs) == 1 and runs[0]["status"] == "succeeded"
    run_id = runs[0]["run_id"]
    assert run_id.startswith("manual__")
    steps = records.get_run(run_id)["steps"]
    assert sorted(s["name"] for s in steps) == sorted(load_dag("xgboost_simple").nodes)
    assert {s["status"] for s in steps} == {"succeeded"}

    from cursus.mlops.tracking import mlflow_client

    client = mlflow_client(f"sqlite:///{workspace / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("xgboost-simple")
    parents = client.search_runs(
        [experiment.experiment_id],
        f"tags.cursus_run_id = '{run_id}' and tags.cursus_pipeline_run = 'true'",
    )
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = client.search_runs(
        [experiment.experiment_id], f"tags.mlflow.parentRunId = '{parents[0].info.run_id}'"
    )
    assert sorted(r.info.run_name for r in children) == sorted(load_dag("xgboost_simple").nodes)

    # the same pipeline through `cursus run` finds every step in the cache Airflow filled
    rerun = CliRunner().invoke(
        cli,
        [
            "run",
            "xgboost_simple",
            "-c",
            str(config),
            "--workspace",
            str(workspace),
            "--json",
            "--no-tracking",
        ],
    )
    assert rerun.exit_code == 0, rerun.output
    statuses = {s["status"] for s in json.loads(rerun.stdout)["steps"].values()}
    assert statuses == {"cached"}


def test_step_run_needs_its_upstream_steps(tmp_path: Path) -> None:
    config = _config(tmp_path, dag="xgboost_simple")
    plan_path = _plan(config, "xgboost_simple").save(tmp_path / "plan.json")
    runner = CliRunner()
    args = [
        "step",
        "run",
        str(plan_path),
        "XGBoostTraining",
        "--run-id",
        "r1",
        "--workspace",
        str(tmp_path / "ws"),
    ]
    early = runner.invoke(cli, args)
    assert early.exit_code == 1
    assert "needs 'DataLoading_training', which is pending in run r1" in early.output
    first = runner.invoke(cli, [*args[:3], "DataLoading_training", *args[4:]])
    assert first.exit_code == 0 and "DataLoading_training: succeeded" in first.output


def test_bad_schedule_and_dag_id_fail_at_compile_time(tmp_path: Path) -> None:
    config = _config(tmp_path, schedule="every day at noon")
    done = CliRunner().invoke(
        cli,
        [
            "compile",
            "xgboost_e2e",
            "-c",
            str(config),
            "--target",
            "airflow",
            "-o",
            str(tmp_path / "d.py"),
            "--allow-sample-data",
        ],
    )
    assert done.exit_code == 2
    assert "schedule 'every day at noon'" in done.output and "fix field 'schedule'" in done.output
    assert "Traceback" not in done.output and not (tmp_path / "d.py").exists()

    plan = _plan(_config(tmp_path))
    plan.pipeline["pipeline_name"] = "has spaces!"
    with pytest.raises(AirflowCompileError, match="refused by Airflow"):
        render_dag_file(plan, "x.plan.json")
    with pytest.raises(AirflowCompileError, match=r"must end in \.py"):
        write_dag_file(plan, tmp_path / "dag.txt")


def test_presets_and_cron_are_accepted(tmp_path: Path) -> None:
    for schedule in ("@daily", "*/15 * * * *", None):
        text = render_dag_file(_plan(_config(tmp_path, schedule=schedule)), "p.plan.json")
        assert f"schedule={schedule!r}" in text
