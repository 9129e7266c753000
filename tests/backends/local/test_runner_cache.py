"""A step whose step type, spec, script, config and inputs are unchanged is taken from the cache;
a change re-runs exactly the changed step and what depends on it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from _runner_support import (
    assert_store_verifies,
    compile_plan,
    run_record,
    statuses,
    write_config,
    write_dag,
)

from cursus.backends.local import LocalRunner
from cursus.core.config_file import load_configs, save_configs
from cursus.targets import run_pipeline

E2E_DESCENDANTS_OF_CALIBRATION = {
    "ModelCalibration_calibration",
    "Package",
    "Payload",
    "Registration",
}


def test_an_unchanged_pipeline_is_taken_whole_from_the_cache(seed_run, tmp_path):
    ws = seed_run.copy_workspace(tmp_path / "ws")
    result = LocalRunner(seed_run.plan, workspace=ws, registry_uri=seed_run.registry).run()
    assert result.ok
    assert set(statuses(result).values()) == {"cached"}
    for name, step in result.steps.items():
        seeded = seed_run.result.steps[name]
        assert step.digests == seeded.digests and step.metrics == seeded.metrics
        assert step.cache_key == seeded.cache_key and step.attempts == 0
    # nothing was started: no step folder or log in the new run's folder
    run_dir = ws / "runs" / result.run_id
    assert sorted(p.name for p in run_dir.iterdir()) == ["logs", "plan.json"]
    rows = run_record(ws, result.run_id)["steps"]
    assert all(r["status"] == "cached" and r["cache_hit"] for r in rows)


def test_no_cache_runs_every_step_again_with_the_same_results(seed_run, tmp_path):
    ws = seed_run.copy_workspace(tmp_path / "ws")
    result = LocalRunner(
        seed_run.plan, workspace=ws, use_cache=False, registry_uri=seed_run.registry
    ).run()
    assert result.ok
    assert set(statuses(result).values()) == {"succeeded"}
    for name in ("DataLoading_training", "TabularPreprocessing_training", "XGBoostTraining"):
        # deterministic steps produce the very same artifacts, so the store holds one copy
        assert result.steps[name].digests == seed_run.result.steps[name].digests
    assert_store_verifies(ws)


def test_changing_one_config_reruns_that_step_and_its_descendants_only(seed_run, tmp_path):
    ws = seed_run.copy_workspace(tmp_path / "ws")
    configs = load_configs(seed_run.config)
    configs["ModelCalibration_calibration"].calibration_method = "sigmoid"
    config = save_configs(configs, tmp_path / "changed.json")
    plan = compile_plan("xgboost_e2e", config)

    result = LocalRunner(plan, workspace=ws, registry_uri=seed_run.registry).run()
    assert result.ok
    ran = {n for n, s in statuses(result).items() if s == "succeeded"}
    cached = {n for n, s in statuses(result).items() if s == "cached"}
    assert ran == E2E_DESCENDANTS_OF_CALIBRATION
    assert cached == {s.name for s in plan.steps} - E2E_DESCENDANTS_OF_CALIBRATION
    changed = result.steps["ModelCalibration_calibration"]
    assert changed.cache_key != seed_run.result.steps["ModelCalibration_calibration"].cache_key

    # and the new variant is itself cached now
    again = LocalRunner(plan, workspace=ws, registry_uri=seed_run.registry).run()
    assert set(statuses(again).values()) == {"cached"}


def test_fields_that_only_say_how_to_run_do_not_invalidate_the_cache(seed_run, tmp_path):
    ws = seed_run.copy_workspace(tmp_path / "ws")
    configs = load_configs(seed_run.config)
    for cfg in configs.values():
        cfg.retries = 3
        cfg.max_runtime_seconds = 600
        cfg.pipeline_description = "same steps, new words"
    config = save_configs(configs, tmp_path / "reworded.json")
    result = LocalRunner(
        compile_plan("xgboost_e2e", config), workspace=ws, registry_uri=seed_run.registry
    ).run()
    assert set(statuses(result).values()) == {"cached"}


def test_a_step_with_cache_off_always_runs(seed_run, tmp_path):
    ws = seed_run.copy_workspace(tmp_path / "ws")
    config = write_config(
        tmp_path / "c.json",
        "xgboost_e2e",
        DataLoading_training={"data_source": "sklearn:breast_cancer"},
        DataLoading_calibration={"data_source": "sklearn:breast_cancer"},
        Payload={"cache": False},
    )
    result = LocalRunner(
        compile_plan("xgboost_e2e", config), workspace=ws, registry_uri=seed_run.registry
    ).run()
    st = statuses(result)
    assert st["Payload"] == "succeeded"
    # Payload is deterministic, so Registration's inputs are unchanged and it stays cached
    assert st["Registration"] == "cached"
    assert {n for n, s in st.items() if s == "succeeded"} == {"Payload"}


def test_a_data_file_named_by_a_relative_path_is_part_of_the_cache_key(tmp_path, monkeypatch):
    """DATA_SOURCE=table.csv (no folder in it): editing the file runs the step again, on the new
    rows, read from the runner's working directory whatever directory the fork server started in."""
    monkeypatch.chdir(tmp_path)
    table = Path("table.csv")
    table.write_text("x1,x2,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(30)))
    dag = write_dag(tmp_path / "dag.json", ["DataLoading_training"], [])
    config = write_config(
        tmp_path / "c.json", dag, DataLoading_training={"data_source": "table.csv"}
    )
    ws = tmp_path / "ws"
    first = run_pipeline(dag, config, workspace=ws, tracking=False)
    assert first.ok, first.steps["DataLoading_training"].error
    assert first.steps["DataLoading_training"].metrics["n_rows"] == 30
    again = run_pipeline(dag, config, workspace=ws, tracking=False)
    assert again.steps["DataLoading_training"].status == "cached"
    with table.open("a") as handle:
        handle.write("30,0,0\n31,1,1\n")
    edited = run_pipeline(dag, config, workspace=ws, tracking=False)
    step = edited.steps["DataLoading_training"]
    assert step.status == "succeeded" and step.metrics["n_rows"] == 32


@pytest.mark.parametrize(
    "damage",
    [
        '{"data": "0000", "metadata": "1111"}',  # not digests
        '{"data": "../../etc", "metadata": "x"}',
        "not json",
        "[]",
        json.dumps({"data": "a" * 64, "metadata": "b" * 64}),  # digests the store does not hold
    ],
)
def test_a_bad_cache_row_is_a_miss_and_the_step_runs_again(tmp_path, damage):
    dag = write_dag(
        tmp_path / "dag.json",
        ["DataLoading_training", "TabularPreprocessing_training"],
        [("DataLoading_training", "TabularPreprocessing_training")],
    )
    config = write_config(tmp_path / "c.json", dag)
    ws = tmp_path / "ws"
    first = run_pipeline(dag, config, workspace=ws, tracking=False)
    assert first.ok
    key = first.steps["DataLoading_training"].cache_key
    with sqlite3.connect(ws / "runs.db") as db:
        assert db.execute("UPDATE cache SET outputs=? WHERE cache_key=?", (damage, key)).rowcount
    again = run_pipeline(dag, config, workspace=ws, tracking=False)
    assert again.ok, {n: s.error for n, s in again.steps.items() if s.error}
    assert statuses(again) == {
        "DataLoading_training": "succeeded",  # run again, not failed on the row
        "TabularPreprocessing_training": "cached",  # the same output as before
    }
    third = run_pipeline(dag, config, workspace=ws, tracking=False)
    assert statuses(third)["DataLoading_training"] == "cached"  # the row was written anew


@pytest.mark.slow
def test_concurrent_identical_runs_compute_each_step_once(tmp_path):
    """Four `cursus run` of one config on one workspace at once: a step in flight in one run is
    awaited by the others (a lock on its cache key) and taken from the cache, so the steps run
    once between them (31 of 40 ran before) and one model version is registered."""
    import subprocess

    from _runner_support import CURSUS, SMALL_SOURCE

    config = write_config(
        tmp_path / "config.json",
        "xgboost_e2e",
        DataLoading_training={"data_source": SMALL_SOURCE},
        DataLoading_calibration={"data_source": SMALL_SOURCE},
    )
    ws, registry = tmp_path / "ws", tmp_path / "registry"
    command = [CURSUS, "run", "xgboost_e2e", "-c", str(config), "--workspace", str(ws),
               "--registry-uri", str(registry), "--no-tracking", "--quiet"]  # fmt: skip
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)]
    runs += [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for _ in range(3)]  # fmt: skip
    outputs = [proc.communicate(timeout=300)[0].decode() for proc in runs]
    assert [proc.returncode for proc in runs] == [0] * 4, outputs
    with sqlite3.connect(ws / "runs.db") as db:
        rows = db.execute("SELECT run_id, name, status FROM steps").fetchall()
    assert len({run for run, _, _ in rows}) == 4 and len(rows) == 40
    ran = sorted(name for _, name, status in rows if status == "succeeded")
    assert ran == sorted({name for _, name, _ in rows}), "each step ran exactly once"
    assert sum(status == "cached" for _, _, status in rows) == 30
    (model,) = registry.iterdir()
    versions = [p.name for p in model.iterdir() if p.name.isdigit()]
    assert versions == ["1"]
