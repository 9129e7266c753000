"""TemporalSplitPreprocessing: an out-of-time holdout, and train/val split by entity.

Rows dated on or after SPLIT_DATE (unset: the latest OOT_FRACTION of the dates) are the test/
split, the out-of-time holdout a model is judged on. The earlier rows split into train/ and val/
by entity (GROUP_ID_FIELD, e.g. a customer id; unset, each row is its own): TRAIN_RATIO of the
entities train, the others validate, and no entity is in both, so early stopping is not fooled by
rows of customers it has already seen. Labels are cleaned and the feature transforms fitted on
train/ exactly as TabularPreprocessing does (its functions travel in this step's bundle); the
date and entity columns are kept in the tables but are not features.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _tabular import (
    PREPROCESSING_FILE,
    REGRESSION,
    StepInputError,
    check_problem_type,
    env_float,
    env_int,
    env_str,
    fit_preprocessing,
    read_table,
    save_json,
    write_table,
)
from tabular_preprocessing import (
    categorical_columns,
    check_columns,
    clean,
    label_summary,
    read_schema,
)

CONTAINER_INPUTS = {
    "data_input": "/opt/ml/processing/input/data",
    "metadata_input": "/opt/ml/processing/input/metadata",
}
CONTAINER_OUTPUTS = {
    "processed_data": "/opt/ml/processing/output/processed_data",
    "preprocessing_artifacts": "/opt/ml/processing/output/preprocessing_artifacts",
}
ENV_VARS = [
    "LABEL_FIELD",
    "ID_FIELD",
    "DATE_FIELD",
    "GROUP_ID_FIELD",
    "SPLIT_DATE",
    "OOT_FRACTION",
    "TRAIN_RATIO",
    "CATEGORICAL_COLUMNS",
    "RANDOM_SEED",
    "PROBLEM_TYPE",
]


def parse_dates(df: pd.DataFrame, date_field: str) -> pd.Series:
    if date_field not in df.columns:
        raise StepInputError(
            f"DATE_FIELD column {date_field!r} is not in the table (columns: "
            f"{list(map(str, df.columns[:20]))}); set date_field to the column holding each "
            "row's date"
        )
    dates = pd.to_datetime(df[date_field], errors="coerce", utc=True)
    bad = int(dates.isna().sum())
    if bad:
        example = df.loc[dates.isna(), date_field].iloc[0]
        raise StepInputError(
            f"{bad} row(s) of {date_field!r} are not dates (e.g. {example!r}); use ISO dates "
            "such as 2024-07-01, and drop or fill rows without one"
        )
    return dates


def oot_start(dates: pd.Series, split_date: str | None, oot_fraction: float) -> pd.Timestamp:
    if split_date:
        return pd.Timestamp(split_date, tz="UTC")
    ordered = np.sort(dates.unique())
    return pd.Timestamp(ordered[min(len(ordered) - 1, int(len(ordered) * (1 - oot_fraction)))])


def split_by_entity(
    entities: pd.Series, train_ratio: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, val) giving each entity wholly to one side."""
    unique = np.array(sorted(entities.astype(str).unique()))
    rng = np.random.default_rng(seed)
    rng.shuffle(unique)
    n_train = min(len(unique) - 1, max(1, round(len(unique) * train_ratio)))
    train_entities = set(unique[:n_train])
    in_train = entities.astype(str).isin(train_entities).to_numpy()
    return in_train, ~in_train


def main(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    schema = read_schema(input_paths.get("metadata_input"))
    label_field = env_str(environ_vars, "LABEL_FIELD") or schema.get("label_field") or "label"
    id_field = env_str(environ_vars, "ID_FIELD") or schema.get("id_field")
    date_field = env_str(environ_vars, "DATE_FIELD", "date") or "date"
    group_field = env_str(environ_vars, "GROUP_ID_FIELD")
    train_ratio = env_float(environ_vars, "TRAIN_RATIO", 0.8)
    oot_fraction = env_float(environ_vars, "OOT_FRACTION", 0.2)
    if not (0 < train_ratio < 1 and 0 < oot_fraction < 1):
        raise StepInputError("TRAIN_RATIO and OOT_FRACTION must be strictly between 0 and 1")
    seed = env_int(environ_vars, "RANDOM_SEED", 0)
    categorical = categorical_columns(environ_vars)

    df = read_table(input_paths["data_input"])
    check_columns(df, label_field, id_field, categorical)
    if group_field and group_field not in df.columns:
        raise StepInputError(
            f"GROUP_ID_FIELD column {group_field!r} is not in the table; set group_id_field to "
            f"the entity column, one of {list(map(str, df.columns[:20]))}"
        )
    configured = check_problem_type(env_str(environ_vars, "PROBLEM_TYPE"))
    df, mapping, problem_type = clean(df, label_field, True, configured)
    dates = parse_dates(df, date_field)
    start = oot_start(dates, env_str(environ_vars, "SPLIT_DATE"), oot_fraction)
    oot = (dates >= start).to_numpy()
    if oot.all() or not oot.any():
        raise StepInputError(
            f"split date {start.date()} leaves {'no in-time' if oot.all() else 'no out-of-time'} "
            f"rows (dates run from {dates.min().date()} to {dates.max().date()}); choose a "
            "split_date inside that range"
        )
    in_time = df[~oot].reset_index(drop=True)
    entities = in_time[group_field] if group_field else pd.Series(in_time.index)
    if entities.nunique() < 2:
        raise StepInputError(
            "the in-time rows hold one entity; train and val need at least one each"
        )
    is_train, is_val = split_by_entity(entities, train_ratio, seed)
    splits = {
        "train": in_time[is_train].reset_index(drop=True),
        "val": in_time[is_val].reset_index(drop=True),
        "test": df[oot].reset_index(drop=True),
    }
    if problem_type != REGRESSION and splits["train"][label_field].nunique() < 2:
        raise StepInputError("the train split holds one class; use more or other in-time rows")
    processed = Path(output_paths["processed_data"])
    for name, part in splits.items():
        write_table(part, processed / name)
    artifacts = fit_preprocessing(splits["train"], label_field, id_field, categorical, mapping)
    not_features = {date_field, group_field}
    artifacts["features"] = [c for c in artifacts["features"] if c not in not_features]
    artifacts["categories"] = {
        c: v for c, v in artifacts["categories"].items() if c not in not_features
    }
    for key in ("numeric_impute", "numeric_stats"):
        artifacts[key] = {c: v for c, v in artifacts[key].items() if c not in not_features}
    artifacts["temporal_split"] = {
        "date_field": date_field,
        "group_id_field": group_field,
        "oot_start": start.isoformat(),
    }
    save_json(
        {**artifacts, "problem_type": problem_type},
        Path(output_paths["preprocessing_artifacts"]) / PREPROCESSING_FILE,
    )
    metrics = {f"n_{name}": float(len(part)) for name, part in splits.items()}
    if group_field:
        seen = set(splits["train"][group_field].astype(str))
        metrics["n_train_entities"] = float(len(seen))
        metrics["n_val_entities"] = float(splits["val"][group_field].nunique())
        oot_entities = set(splits["test"][group_field].astype(str))
        metrics["oot_entities_seen_in_train"] = float(len(oot_entities & seen))
    return {**metrics, **label_summary(df[label_field], problem_type)}


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
