"""MissingValueImputation: fill missing values with what the training split says.

Training job type: for every feature the fill value is fitted on train/ (numbers: mean, median,
mode or a constant; categories: mode or a constant; per column through COLUMN_STRATEGIES), then
every split is filled. Other job types fill their split with the values the `_training` node
fitted. The values join preprocessing.json's transform chain, so the packaged model fills a
request's missing values the same way.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import pandas as pd
from _tabular import (
    StepInputError,
    env_float,
    env_json,
    env_str,
    new_transform,
    run_transform_step,
)

STEP_TYPE = "MissingValueImputation"
CONTAINER_INPUTS = {
    "processed_data": "/opt/ml/processing/input/data",
    "preprocessing_artifacts": "/opt/ml/processing/input/preprocessing_artifacts",
}
CONTAINER_OUTPUTS = {
    "processed_data": "/opt/ml/processing/output/processed_data",
    "preprocessing_artifacts": "/opt/ml/processing/output/preprocessing_artifacts",
}
ENV_VARS = [
    "NUMERICAL_STRATEGY",
    "CATEGORICAL_STRATEGY",
    "NUMERICAL_CONSTANT",
    "CATEGORICAL_CONSTANT",
    "COLUMN_STRATEGIES",
    "FILL_VALUES",
    "EXCLUDE_COLUMNS",
]
NUMERICAL = ("mean", "median", "mode", "constant")
CATEGORICAL = ("mode", "constant")


def settings(environ: dict[str, str]) -> dict[str, Any]:
    found = {
        "numerical": (env_str(environ, "NUMERICAL_STRATEGY", "median") or "").lower(),
        "categorical": (env_str(environ, "CATEGORICAL_STRATEGY", "mode") or "").lower(),
        "numerical_constant": env_float(environ, "NUMERICAL_CONSTANT", 0.0),
        "categorical_constant": env_str(environ, "CATEGORICAL_CONSTANT", "missing"),
        "columns": env_json(environ, "COLUMN_STRATEGIES", {}) or {},
        "fill_values": env_json(environ, "FILL_VALUES", {}) or {},
        "exclude": env_json(environ, "EXCLUDE_COLUMNS", []) or [],
    }
    if found["numerical"] not in NUMERICAL:
        raise StepInputError(f"NUMERICAL_STRATEGY={found['numerical']!r}: use one of {NUMERICAL}")
    if found["categorical"] not in CATEGORICAL:
        raise StepInputError(
            f"CATEGORICAL_STRATEGY={found['categorical']!r}: use one of {CATEGORICAL}"
        )
    if not isinstance(found["columns"], dict) or not isinstance(found["fill_values"], dict):
        raise StepInputError("COLUMN_STRATEGIES and FILL_VALUES must be JSON objects by column")
    return found


def fill_value(series: pd.Series, strategy: str, categorical: bool, constant: Any, column: str):
    """The value `strategy` fills `column` with, from its training values."""
    if categorical and strategy in ("mean", "median"):
        raise StepInputError(
            f"column {column!r} is categorical; {strategy} needs numbers: use mode or constant "
            "in COLUMN_STRATEGIES"
        )
    if strategy == "constant":
        return constant
    values = series.dropna() if categorical else pd.to_numeric(series, errors="coerce").dropna()
    if values.empty:  # nothing to learn from: the constant, so the column is still filled
        return constant
    if strategy == "mode":
        counts = (
            values.astype(str).value_counts(sort=False) if categorical else values.value_counts()
        )
        top = counts[counts == counts.max()].index
        value = sorted(top)[0]  # ties broken the same way on every run
        return str(value) if categorical else float(value)
    return float(values.mean() if strategy == "mean" else values.median())


def fit(train: pd.DataFrame, artifacts: dict[str, Any], config: dict[str, Any]):
    categories: dict[str, list[str]] = artifacts["categories"]
    unknown = sorted(set(config["columns"]) - set(artifacts["features"]))
    if unknown:
        raise StepInputError(f"COLUMN_STRATEGIES names columns that are not features: {unknown}")
    values: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for column in artifacts["features"]:
        if column in config["exclude"]:
            continue
        categorical = column in categories
        strategy = config["columns"].get(column) or (
            config["categorical"] if categorical else config["numerical"]
        )
        if strategy not in NUMERICAL:
            raise StepInputError(
                f"COLUMN_STRATEGIES[{column!r}]={strategy!r}: use one of {NUMERICAL}"
            )
        default = config["categorical_constant"] if categorical else config["numerical_constant"]
        constant = config["fill_values"].get(column, default)
        values[column] = fill_value(train[column], strategy, categorical, constant, column)
        counts[column] = int(train[column].isna().sum())
    transform = new_transform("impute", STEP_TYPE, values=values)
    # a constant that is not one of a column's categories becomes one, with its own code
    grown = {
        c: sorted({*cats, str(values[c])}) if c in values else cats
        for c, cats in categories.items()
    }
    transform["missing_in_train"] = counts
    return transform, {**artifacts, "categories": grown}


def main(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    config = settings(environ_vars)
    job_type = job_args.get("job_type") or "training"
    metrics = run_transform_step(
        STEP_TYPE,
        input_paths,
        output_paths,
        job_type,
        lambda train, artifacts: fit(train, artifacts, config),
    )
    return metrics


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
