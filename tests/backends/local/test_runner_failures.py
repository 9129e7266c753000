"""A failing step is reported with its own stderr, its descendants are skipped, independent branches
finish, the run fails with exit code 1; retries with back-off come from the step's config."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from _runner_support import SMALL_SOURCE, run_record, statuses, write_config, write_dag
from click.testing import CliRunner

from cursus.backends.local.records import RunRecords
from cursus.cli.main import cli
from cursus.targets import run_pipeline

CALIBRATION_BRANCH_AND_BELOW = {
    "TabularPreprocessing_calibration",
    "XGBoostModelEval_calibration",
    "ModelCalibration_calibration",
    "Package",
    "Payload",
    "Registration",
}
TRAINING_BRANCH = {"DataLoading_training", "TabularPreprocessing_training", "XGBoostTraining"}


def small_csv(path: Path, rows: int = 40) -> Path:
    lines = ["x1,x2,label"] + [f"{i},{(i * 7) % 11},{i % 2}" for i in range(rows)]
    tmp = path.with_name(path.name + ".part")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.rename(path)
    return path


def test_a_failing_step_skips_its_descendants_and_the_cli_exits_1(tmp_path):
    missing = tmp_path / "no-such-file.csv"
    config = write_config(
        tmp_path / "c.json",
        "xgboost_e2e",
        DataLoading_training={"data_source": SMALL_SOURCE},
        DataLoading_calibration={"data_source": str(missing)},
    )
    ws = tmp_path / "ws"
    out = CliRunner().invoke(
        cli, ["run", "xgboost_e2e", "-c", str(config), "--workspace", str(ws), "--quiet"]
    )
    assert out.exit_code == 1, out.output
    # the message names the step, the script's own error, and the last lines of its stderr
    assert "error: DataLoading_calibration failed: StepInputError:" in out.stderr
    assert f"DATA_SOURCE file {missing} does not exist" in out.stderr
    assert 'data_loading.py", line' in out.stderr  # a traceback frame from the step's stderr
    assert "_tabular.StepInputError: DATA_SOURCE file" in out.stderr

    (run,) = RunRecords(ws / "runs.db").list_runs()
    assert run["status"] == "failed" and "DataLoading_calibration" in run["error"]
    rows = {s["name"]: s for s in run_record(ws, run["run_id"])["steps"]}
    assert rows["DataLoading_calibration"]["status"] == "failed"
    assert {n for n, r in rows.items() if r["status"] == "skipped"} == CALIBRATION_BRANCH_AND_BELOW
    # the training branch does not depend on the failure and runs to the end
    assert {n for n, r in rows.items() if r["status"] == "succeeded"} == TRAINING_BRANCH
    assert "upstream DataLoading_calibration" in rows["TabularPreprocessing_calibration"]["error"]
    assert "upstream" in rows["Registration"]["error"]


def test_a_bad_label_field_fails_with_the_columns_it_could_use(tmp_path):
    table = small_csv(tmp_path / "table.csv")
    dag = write_dag(tmp_path / "dag.json", ["DataLoading_training", "DataLoading_calibration"], [])
    config = write_config(
        tmp_path / "c.json",
        dag,
        DataLoading_training={"data_source": str(table)},
        DataLoading_calibration={"data_source": str(table), "label_field": "is_fraud"},
    )
    result = run_pipeline(dag, config, workspace=tmp_path / "ws", use_cache=False, tracking=False)
    assert not result.ok and result.status == "failed"
    assert statuses(result) == {
        "DataLoading_training": "succeeded",
        "DataLoading_calibration": "failed",
    }
    failed = result.steps["DataLoading_calibration"]
    assert failed.error.startswith(
        "StepInputError: LABEL_FIELD column 'is_fraud' is not in DATA_SOURCE"
    )
    assert "columns are ['x1', 'x2', 'label']" in failed.error  # the columns it could have used
    assert failed.attempts == 1 and failed.log_path and Path(failed.log_path).is_file()


def test_a_step_that_fails_once_succeeds_on_its_retry(tmp_path):
    late = tmp_path / "arrives-late.csv"
    dag = write_dag(tmp_path / "dag.json", ["DataLoading_training"], [])
    config = write_config(
        tmp_path / "c.json",
        dag,
        DataLoading_training={"data_source": str(late), "retries": 2, "retry_backoff_seconds": 0.5},
    )
    ws = tmp_path / "ws"

    def deliver_after_first_failure() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if list(ws.glob("runs/*/DataLoading_training/attempt-1/result.json")):
                small_csv(late)
                return
            time.sleep(0.01)

    courier = threading.Thread(target=deliver_after_first_failure, daemon=True)
    courier.start()
    result = run_pipeline(dag, config, workspace=ws, tracking=False)
    courier.join()

    step = result.steps["DataLoading_training"]
    assert result.ok and step.status == "succeeded" and step.attempts == 2
    assert step.metrics["n_rows"] == 40
    (row,) = run_record(ws, result.run_id)["steps"]
    assert row["attempts"] == 2 and row["status"] == "succeeded"
    log = Path(step.log_path).read_text()
    assert "attempt 1 of DataLoading_training" in log and "attempt 2 of DataLoading_training" in log
    assert "does not exist" in log  # the first attempt's error stays in the log


def test_a_step_that_always_fails_is_tried_retries_plus_one_times_with_backoff(tmp_path):
    dag = write_dag(tmp_path / "dag.json", ["DataLoading_training"], [])
    config = write_config(
        tmp_path / "c.json",
        dag,
        DataLoading_training={
            "data_source": str(tmp_path / "never.csv"),
            "retries": 2,
            "retry_backoff_seconds": 0.2,
        },
    )
    started = time.monotonic()
    result = run_pipeline(dag, config, workspace=tmp_path / "ws", tracking=False)
    elapsed = time.monotonic() - started

    step = result.steps["DataLoading_training"]
    assert step.status == "failed" and step.attempts == 3
    assert elapsed >= 0.2 + 0.4  # back-off doubles: 0.2 s, then 0.4 s
    (row,) = run_record(tmp_path / "ws", result.run_id)["steps"]
    assert row["attempts"] == 3 and row["status"] == "failed"
    assert Path(step.log_path).read_text().count("[cursus] attempt ") == 3


def test_text_from_the_user_is_printed_as_text_not_markup(tmp_path):
    """A path with rich markup in it ('[/x]' would crash the summary, '[link=...]' would plant a
    terminal hyperlink) is printed as it is, in the error and in the run summary."""
    missing = tmp_path / "[link=mailto:a@evil.example]data[" / "x]" / "table.csv"
    dag = write_dag(tmp_path / "dag.json", ["DataLoading_training"], [])
    config = write_config(
        tmp_path / "c.json", dag, DataLoading_training={"data_source": str(missing)}
    )
    ws = tmp_path / "ws"
    out = CliRunner().invoke(
        cli, ["run", str(dag), "-c", str(config), "--workspace", str(ws), "--no-tracking"]
    )
    assert out.exit_code == 1, out.output
    assert out.exception is None or isinstance(out.exception, SystemExit), out.exception
    assert f"DATA_SOURCE file {missing} does not exist" in out.output
    assert "[link=mailto:a@evil.example]data[/x]" in out.output
