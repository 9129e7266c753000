"""RiskTableMapping: replace each category by the label's smoothed rate among the rows that have it.

Training job type: for every categorical column (the ones preprocessing encoded as categories,
or CATEGORICAL_COLUMNS) the risk of a category is

    (sum of labels + m * overall rate) / (count + m),   m = SMOOTH_FACTOR * rows in train/

so a rare category leans towards the overall rate; one seen fewer than COUNT_THRESHOLD times,
a missing value, and one never seen get the overall rate. Binary labels give a positive rate,
regression labels a mean. Other job types map with the tables the `_training` node fitted. The
tables join preprocessing.json's transform chain: the packaged model maps a request's categories
the same way, and the mapped columns are numbers from here on.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import numpy as np
import pandas as pd
from _tabular import (
    MULTICLASS,
    StepInputError,
    apply_transforms,
    encoding_as_numeric,
    env_float,
    env_int,
    env_json,
    label_key,
    new_transform,
    problem_type_of,
    run_transform_step,
)

STEP_TYPE = "RiskTableMapping"
CONTAINER_INPUTS = {
    "processed_data": "/opt/ml/processing/input/data",
    "preprocessing_artifacts": "/opt/ml/processing/input/preprocessing_artifacts",
}
CONTAINER_OUTPUTS = {
    "processed_data": "/opt/ml/processing/output/processed_data",
    "preprocessing_artifacts": "/opt/ml/processing/output/preprocessing_artifacts",
}
ENV_VARS = ["CATEGORICAL_COLUMNS", "SMOOTH_FACTOR", "COUNT_THRESHOLD", "MAX_UNIQUE"]


def risk_table(
    values: pd.Series, labels: np.ndarray, smooth: float, threshold: int, prior: float
) -> dict[str, float]:
    """Category key -> smoothed risk, for the categories seen at least `threshold` times."""
    known = values.notna().to_numpy()
    keys = values[known].map(label_key)
    frame = pd.DataFrame({"key": keys.to_numpy(), "y": labels[known]})
    grouped = frame.groupby("key", sort=True)["y"].agg(["sum", "count"])
    grouped = grouped[grouped["count"] >= max(threshold, 1)]
    risk = (grouped["sum"] + smooth * prior) / (grouped["count"] + smooth)
    return {str(k): float(v) for k, v in risk.items()}


def fit(train: pd.DataFrame, artifacts: dict[str, Any], environ: dict[str, str]):
    if problem_type_of(artifacts) == MULTICLASS:
        raise StepInputError(
            "RiskTableMapping maps categories to one label rate, which a multiclass label does "
            "not have; use it with a binary or regression label, or leave the categories encoded"
        )
    label_field = artifacts["label_field"]
    columns = env_json(environ, "CATEGORICAL_COLUMNS") or sorted(artifacts["categories"])
    unknown = sorted(set(columns) - set(artifacts["features"]))
    if unknown:
        raise StepInputError(f"CATEGORICAL_COLUMNS names columns that are not features: {unknown}")
    smooth_factor = env_float(environ, "SMOOTH_FACTOR", 0.01)
    threshold = env_int(environ, "COUNT_THRESHOLD", 5)
    max_unique = env_int(environ, "MAX_UNIQUE", 100)
    if not 0 <= smooth_factor <= 1 or threshold < 0 or max_unique < 1:
        raise StepInputError(
            "SMOOTH_FACTOR must be in [0, 1], COUNT_THRESHOLD >= 0 and MAX_UNIQUE >= 1"
        )
    labels = pd.to_numeric(train[label_field], errors="coerce").to_numpy(dtype=np.float64)
    prior = float(np.nanmean(labels))
    smooth = smooth_factor * len(train)
    tables: dict[str, dict[str, Any]] = {}
    for column in columns:
        n_unique = int(train[column].nunique())
        if n_unique > max_unique:
            raise StepInputError(
                f"column {column!r} has {n_unique} categories, more than MAX_UNIQUE={max_unique}; "
                "raise max_unique or leave the column out of categorical_columns"
            )
        risk = risk_table(train[column], labels, smooth, threshold, prior)
        tables[column] = {"risk": risk, "default": prior}
    transform = new_transform("risk_table", STEP_TYPE, tables=tables)
    mapped = apply_transforms(train, [transform])
    return transform, encoding_as_numeric(artifacts, mapped, list(tables))


def main(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    job_type = job_args.get("job_type") or "training"
    return run_transform_step(
        STEP_TYPE,
        input_paths,
        output_paths,
        job_type,
        lambda train, artifacts: fit(train, artifacts, environ_vars),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--job_type", "--job-type", dest="job_type", default="training")
    args = parser.parse_args()
    for folder in CONTAINER_OUTPUTS.values():
        os.makedirs(folder, exist_ok=True)
    result = main(
        {n: p for n, p in CONTAINER_INPUTS.items() if os.path.isdir(p)},
        dict(CONTAINER_OUTPUTS),
        {name: os.environ[name] for name in ENV_VARS if name in os.environ},
        {"job_type": args.job_type},
    )
    print(json.dumps(result, indent=2))
