"""The local runner executes a Plan: each step in its own process, dependencies first, independent
branches at the same time, every output in the content-addressed store, every run recorded."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from _runner_support import (
    SMALL_SOURCE,
    assert_store_verifies,
    recorded_digests,
    run_record,
    statuses,
    write_config,
    write_dag,
)
from click.testing import CliRunner

from cursus.backends.local import RunHooks
from cursus.backends.local.store import tree_digest
from cursus.cli.main import cli
from cursus.targets import run_pipeline


class Timeline(RunHooks):
    """Records when each step starts and ends, as a progress display or a tracker would."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spans: dict[str, list[float]] = {}
        self.events: list[tuple[str, str]] = []

    def before_pipeline_run(self, run_id, plan):
        self.events.append(("pipeline", run_id))

    def before_step_run(self, run_id, step):
        with self.lock:
            self.spans[step.name] = [time.monotonic()]
            self.events.append(("start", step.name))

    def after_step_run(self, run_id, step, result):
        with self.lock:
            self.spans.setdefault(step.name, [time.monotonic()]).append(time.monotonic())
            self.events.append(("end", step.name))

    on_step_error = after_step_run

    def after_pipeline_run(self, result):
        self.events.append(("done", result.status))


def overlap(a: list[float], b: list[float]) -> float:
    return min(a[1], b[1]) - max(a[0], b[0])


def test_steps_run_after_their_dependencies_each_with_its_own_log(seed_run):
    result, plan = seed_run.result, seed_run.plan
    assert set(statuses(result).values()) == {"succeeded"}
    run = run_record(seed_run.workspace, result.run_id)
    assert run["status"] == "succeeded"
    rows = {s["name"]: s for s in run["steps"]}
    for step in plan.steps:
        for dep in step.depends_on:
            assert rows[step.name]["started"] >= rows[dep]["ended"], (
                f"{step.name} began before {dep} ended"
            )
    # each step wrote its own log (its process's stdout and stderr), naming the script it ran
    for step in plan.steps:
        log = Path(result.steps[step.name].log_path).read_text()
        assert f"{step.name}: {step.script['entry_point']}.main" in log
    assert all(rows[s]["attempts"] == 1 for s in rows)


def test_independent_branches_overlap_in_time_with_two_workers(seed_run):
    rows = {s["name"]: s for s in run_record(seed_run.workspace, seed_run.result.run_id)["steps"]}
    train, calib = rows["DataLoading_training"], rows["DataLoading_calibration"]
    # both loaders are ready at once and neither waits for the other
    assert overlap([train["started"], train["ended"]], [calib["started"], calib["ended"]]) > 0


def test_one_worker_runs_independent_steps_one_after_another(tmp_path):
    dag = write_dag(tmp_path / "dag.json", ["DataLoading_training", "DataLoading_calibration"], [])
    config = write_config(
        tmp_path / "c.json",
        dag,
        DataLoading_training={"data_source": SMALL_SOURCE},
        DataLoading_calibration={"data_source": "sklearn:wine"},
    )
    spans = {}
    for workers in (1, 2):
        timeline = Timeline()
        result = run_pipeline(
            dag,
            config,
            workspace=tmp_path / f"ws{workers}",
            workers=workers,
            use_cache=False,
            hooks=[timeline],
            tracking=False,
        )
        assert result.ok
        assert timeline.events[0][0] == "pipeline" and timeline.events[-1] == ("done", "succeeded")
        spans[workers] = timeline.spans
    one, two = spans[1], spans[2]
    assert overlap(one["DataLoading_training"], one["DataLoading_calibration"]) <= 0
    assert overlap(two["DataLoading_training"], two["DataLoading_calibration"]) > 0


def test_every_output_is_stored_under_a_digest_that_verifies(seed_run):
    result = seed_run.result
    claimed = set()
    for step in result.steps.values():
        assert set(step.outputs) == set(step.digests) and step.digests
        for name, digest in step.digests.items():
            folder = Path(step.outputs[name])
            assert folder.name == digest
            assert tree_digest(folder) == digest
            # committed files are read-only, so a later step cannot change them in place
            assert all(not (p.stat().st_mode & 0o222) for p in folder.rglob("*") if p.is_file())
            claimed.add(digest)
    assert claimed == recorded_digests(seed_run.workspace)
    assert claimed <= set(assert_store_verifies(seed_run.workspace))


def test_run_pipeline_returns_status_outputs_and_metrics_per_step(seed_run):
    result = seed_run.result
    assert (
        result.ok and result.status == "succeeded" and result.workspace == str(seed_run.workspace)
    )
    assert list(result.steps) == [s.name for s in seed_run.plan.steps]
    training = result.steps["XGBoostTraining"]
    assert training.ok and training.attempts == 1 and training.seconds > 0
    assert 0.5 < training.metrics["val_auc"] <= 1.0
    model_dir = Path(training.outputs["model_output"])
    assert json.loads((model_dir / "model_meta.json").read_text())["framework"] == "xgboost"
    evaluation = result.steps["XGBoostModelEval_calibration"].metrics
    assert 0.5 < evaluation["roc_auc"] <= 1.0
    assert result.steps["DataLoading_training"].metrics["n_rows"] == 569
    as_json = json.loads(json.dumps(result.to_dict()))
    assert as_json["steps"]["Package"]["status"] == "succeeded"


def test_runs_list_and_show_report_the_recorded_run(seed_run):
    cli_runner = CliRunner()
    ws = str(seed_run.workspace)
    run_id = seed_run.result.run_id

    listed = cli_runner.invoke(cli, ["runs", "list", "--workspace", ws])
    assert listed.exit_code == 0, listed.output
    assert run_id in listed.output and "succeeded" in listed.output

    listed_json = json.loads(
        cli_runner.invoke(cli, ["runs", "list", "--workspace", ws, "--json"]).output
    )
    assert [r["run_id"] for r in listed_json] == [run_id]

    shown = cli_runner.invoke(cli, ["runs", "show", run_id[:17], "--workspace", ws])
    assert shown.exit_code == 0, shown.output
    for step in seed_run.plan.steps:
        assert step.name in shown.output
    assert "val_auc=" in shown.output

    shown_json = json.loads(
        cli_runner.invoke(cli, ["runs", "show", run_id, "--workspace", ws, "--json"]).output
    )
    assert shown_json["status"] == "succeeded"
    steps = {s["name"]: s for s in shown_json["steps"]}
    assert steps["XGBoostTraining"]["outputs"] == seed_run.result.steps["XGBoostTraining"].digests
    assert (
        steps["XGBoostTraining"]["metrics"]["val_auc"]
        == seed_run.result.steps["XGBoostTraining"].metrics["val_auc"]
    )

    missing = cli_runner.invoke(cli, ["runs", "show", "no-such-run", "--workspace", ws])
    assert missing.exit_code == 2 and "no single run matches" in missing.output


def test_runs_are_found_by_exact_id_before_prefix(tmp_path: Path) -> None:
    from cursus.backends.local.records import RunRecords

    records = RunRecords(tmp_path / "runs.db")
    pipeline = {"pipeline_name": "p", "pipeline_version": "1.0.0"}
    for run_id in ("r1", "r10", "manual__x"):
        records.ensure_run(run_id, pipeline, "d", "plan.json", [("A", "DataLoading")])
    assert records.get_run("r1")["run_id"] == "r1"  # not ambiguous with r10
    assert records.get_run("r10")["run_id"] == "r10"
    assert records.get_run("r") is None  # a prefix of two runs names neither
    assert records.get_run("manual_")["run_id"] == "manual__x"  # '_' is no wildcard
    assert records.get_run("manual%") is None
