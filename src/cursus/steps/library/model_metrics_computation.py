"""ModelMetricsComputation: metrics and plots from a predictions table, whatever step wrote it.

The problem type is PROBLEM_TYPE when set, else what the columns show (see `_tabular.
prediction_columns`): `prob` is a binary score, `prob_0` .. `prob_<K-1>` a multiclass one and a
lone `prediction` a regression's value. The metrics are the ones the evaluation steps report
(`_metrics.problem_metrics`); for a binary table scored on `calibrated_prob` (SCORE_FIELD) they
describe the calibrated model.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _metrics import plot_problem, problem_metrics
from _tabular import (
    BINARY,
    MATPLOTLIB_MISSING,
    METRICS_FILE,
    MULTICLASS,
    PLOTS_SKIPPED,
    PREDICTIONS_FILE,
    REGRESSION,
    StepInputError,
    check_problem_type,
    env_str,
    read_table,
    save_json,
    scores_from_predictions,
)

CONTAINER_INPUTS = {"processed_data": "/opt/ml/processing/input/eval_data"}
CONTAINER_OUTPUTS = {"metrics_output": "/opt/ml/processing/output/metrics"}
ENV_VARS = ["LABEL_FIELD", "SCORE_FIELD", "PROBLEM_TYPE"]


def read_predictions(directory: str | Path) -> pd.DataFrame:
    path = Path(directory) / PREDICTIONS_FILE
    return pd.read_parquet(path) if path.is_file() else read_table(directory)


def problem_type_of_table(df: pd.DataFrame, score_field: str) -> str:
    if "prob_0" in df.columns and score_field not in df.columns:
        return MULTICLASS
    if score_field in df.columns:
        return BINARY
    if "prediction" in df.columns:
        return REGRESSION
    raise StepInputError(
        f"{PREDICTIONS_FILE} has none of the score columns {score_field!r}, prob_0.. or "
        f"'prediction' (columns: {list(df.columns)}); feed this step the eval_output of a model "
        "inference or evaluation step"
    )


def labels(df: pd.DataFrame, label_field: str, problem_type: str) -> np.ndarray:
    if label_field not in df.columns:
        raise StepInputError(
            f"{PREDICTIONS_FILE} has no label column {label_field!r}, so there is nothing to "
            "measure against; score labelled data (the inference steps carry a label that is "
            "there) or set LABEL_FIELD"
        )
    y = pd.to_numeric(df[label_field], errors="coerce")
    if y.isna().any() or df.empty:
        raise StepInputError(f"label column {label_field!r} must be numeric in every row")
    if problem_type == REGRESSION:
        return y.to_numpy(dtype=np.float64)
    return y.to_numpy(dtype=np.int64)


def main(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    label_field = env_str(environ_vars, "LABEL_FIELD", "label") or "label"
    score_field = env_str(environ_vars, "SCORE_FIELD", "prob") or "prob"
    df = read_predictions(input_paths["processed_data"])
    problem_type = check_problem_type(env_str(environ_vars, "PROBLEM_TYPE")) or (
        problem_type_of_table(df, score_field)
    )
    y = labels(df, label_field, problem_type)
    scores = scores_from_predictions(df, problem_type, score_field)
    classes = [str(k) for k in range(scores.shape[1])] if scores.ndim == 2 else []
    metrics = problem_metrics(problem_type, y, scores, classes)
    metrics_dir = Path(output_paths["metrics_output"])
    written: dict[str, Any] = {
        k: None if isinstance(v, float) and np.isnan(v) else v for k, v in metrics.items()
    }
    written.update(problem_type=problem_type, score_field=score_field)
    if not plot_problem(problem_type, y, scores, classes, metrics_dir):
        written[PLOTS_SKIPPED] = MATPLOTLIB_MISSING
    save_json(written, metrics_dir / METRICS_FILE)
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--job_type", "--job-type", dest="job_type", default="testing")
    args = parser.parse_args()
    for folder in CONTAINER_OUTPUTS.values():
        os.makedirs(folder, exist_ok=True)
    result = main(
        dict(CONTAINER_INPUTS),
        dict(CONTAINER_OUTPUTS),
        {name: os.environ[name] for name in ENV_VARS if name in os.environ},
        {"job_type": args.job_type},
    )
    print(json.dumps(result, indent=2))
