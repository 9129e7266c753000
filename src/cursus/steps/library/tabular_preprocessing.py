"""TabularPreprocessing: clean a table, split it (training job type) and fit the feature transforms.

The problem type (PROBLEM_TYPE: binary, multiclass or regression) is the one configured, else the
one the label suggests (`_tabular.infer_problem_type`). Cleaning drops rows without a label and,
for a binary label, maps it to 0/1; a multiclass label keeps its classes (the training
label_mapping turns them into indices wherever a model is scored, so a split that lacks a class
is still scored right) and a regression target stays a number. Features are left as they are, because
the transforms (median imputation, categorical codes) are fitted on the train split only and every
later step applies them through `_tabular.apply_preprocessing`. Fitting them here, rather than in
training, lets both frameworks and the served model share one definition.
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
    BINARY,
    PREPROCESSING_FILE,
    REGRESSION,
    StepInputError,
    check_problem_type,
    env_float,
    env_int,
    env_json,
    env_str,
    fit_preprocessing,
    infer_problem_type,
    label_key,
    label_misfit,
    load_json,
    read_table,
    save_json,
    write_table,
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
    "TRAIN_RATIO",
    "TEST_VAL_RATIO",
    "CATEGORICAL_COLUMNS",
    "FEATURE_COLUMNS",
    "RANDOM_SEED",
    "PROBLEM_TYPE",
]

SCHEMA_FILE = "schema.json"
TRAINING = "training"


def main(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    job_type = job_args.get("job_type") or TRAINING
    schema = read_schema(input_paths.get("metadata_input"))
    label_field = env_str(environ_vars, "LABEL_FIELD") or schema.get("label_field") or "label"
    id_field = env_str(environ_vars, "ID_FIELD") or schema.get("id_field")
    categorical = categorical_columns(environ_vars)

    df = read_table(input_paths["data_input"])
    df = keep_features(df, column_list(environ_vars, "FEATURE_COLUMNS"), label_field, id_field)
    check_columns(df, label_field, id_field, categorical)
    configured = check_problem_type(env_str(environ_vars, "PROBLEM_TYPE"))
    df, label_mapping, problem_type = clean(
        df, label_field, require_both_classes=job_type == TRAINING, problem_type=configured
    )

    processed = Path(output_paths["processed_data"])
    artifacts_path = Path(output_paths["preprocessing_artifacts"]) / PREPROCESSING_FILE
    if job_type != TRAINING:
        write_table(df, processed / job_type)
        artifacts = unfitted_artifacts(
            df, job_type, label_field, id_field, categorical, label_mapping
        )
        save_json({**artifacts, "problem_type": problem_type}, artifacts_path)
        return {f"n_{job_type}": float(len(df)), **label_summary(df[label_field], problem_type)}

    seed = env_int(environ_vars, "RANDOM_SEED", 0)
    stratify = problem_type != REGRESSION
    splits = split_table(df, label_field, *split_ratios(environ_vars), seed, stratify)
    for name, part in splits.items():
        write_table(part, processed / name)
    artifacts = fit_preprocessing(
        splits["train"], label_field, id_field, categorical, label_mapping
    )
    save_json({**artifacts, "problem_type": problem_type}, artifacts_path)
    counts = {f"n_{name}": float(len(part)) for name, part in splits.items()}
    return {**counts, **label_summary(df[label_field], problem_type)}


def label_summary(labels: pd.Series, problem_type: str) -> dict[str, float]:
    if problem_type == BINARY:
        return {"positive_rate": float(labels.mean())}
    if problem_type == REGRESSION:
        return {"label_mean": float(labels.mean()), "label_std": float(labels.std(ddof=0))}
    return {"n_classes": float(labels.nunique())}


# ---------------------------------------------------------------- settings


def read_schema(metadata_dir: str | None) -> dict[str, Any]:
    """DataLoading's schema.json, when wired in, supplies the label and id field defaults."""
    if not metadata_dir:
        return {}
    schema = load_json(Path(metadata_dir) / SCHEMA_FILE)
    if not isinstance(schema, dict):
        raise StepInputError(
            f"{Path(metadata_dir) / SCHEMA_FILE} is not a DataLoading schema object"
        )
    return schema


def keep_features(
    df: pd.DataFrame, features: list[str] | None, label_field: str, id_field: str | None
) -> pd.DataFrame:
    """Only the named feature columns (and the label and id) go on; unset, every column does."""
    if features is None:
        return df
    missing = [c for c in features if c not in df.columns]
    if missing:
        raise StepInputError(
            f"FEATURE_COLUMNS names columns {missing[:10]} that are not in the input table "
            f"(columns: {list(map(str, df.columns[:20]))})"
        )
    keep = [c for c in features if c not in (label_field, id_field)]
    keep += [c for c in (label_field, id_field) if c and c in df.columns]
    return df[keep]


def categorical_columns(environ: dict[str, str]) -> list[str] | None:
    """None (not []) when unset: fit_preprocessing then treats non-numeric columns as categorical."""
    return column_list(environ, "CATEGORICAL_COLUMNS")


def column_list(environ: dict[str, str], variable: str) -> list[str] | None:
    """A JSON list of column names in `variable`; None when unset."""
    value = env_json(environ, variable)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise StepInputError(
            f'{variable} must be a JSON list of column names, e.g. ["city"]; got {value!r}'
        )
    return value


def split_ratios(environ: dict[str, str]) -> tuple[float, float]:
    train_ratio = env_float(environ, "TRAIN_RATIO", 0.7)
    test_val_ratio = env_float(environ, "TEST_VAL_RATIO", 0.5)
    for name, value in (("TRAIN_RATIO", train_ratio), ("TEST_VAL_RATIO", test_val_ratio)):
        if not 0.0 < value < 1.0:
            raise StepInputError(f"{name}={value} must be strictly between 0 and 1")
    return train_ratio, test_val_ratio


def check_columns(
    df: pd.DataFrame, label_field: str, id_field: str | None, categorical: list[str] | None
) -> None:
    named = [("LABEL_FIELD", label_field)] + ([("ID_FIELD", id_field)] if id_field else [])
    for variable, column in named:
        if column not in df.columns:
            raise StepInputError(
                f"{variable} column {column!r} is not in the input table (columns: "
                f"{list(map(str, df.columns[:20]))}); set {variable} to one of them"
            )
    unknown = sorted(set(categorical or []) - set(map(str, df.columns)))
    if unknown:
        raise StepInputError(
            f"CATEGORICAL_COLUMNS names columns {unknown} that are not in the table"
        )
    if categorical and {label_field, id_field} & set(categorical):
        raise StepInputError("CATEGORICAL_COLUMNS must not include the label or id column")


# ---------------------------------------------------------------- cleaning


def clean(
    df: pd.DataFrame,
    label_field: str,
    require_both_classes: bool,
    problem_type: str | None = None,
) -> tuple[pd.DataFrame, dict[str, int], str]:
    """Drop rows without a label; map a binary label to 0/1 and keep a multiclass label's classes
    (as whole numbers where they are) and a regression target's numbers. Returns the table, the
    label mapping (original class -> index; {} for regression) and the problem type."""
    df = df[df[label_field].notna()].reset_index(drop=True)
    if df.empty:
        raise StepInputError(f"no row has a value in label column {label_field!r}")
    labels = whole_floats_as_int(df[label_field])
    if problem_type is None:
        # a scoring split may hold fewer classes than training did: only training infers
        problem_type = infer_problem_type(labels) if require_both_classes else _scoring_type(labels)
    misfit = label_misfit(labels, problem_type)
    if misfit:
        raise StepInputError(f"label column {label_field!r} {misfit}")
    if problem_type == REGRESSION:
        return df.assign(**{label_field: labels.astype(np.float64)}), {}, problem_type
    if problem_type != BINARY:
        values = sorted(pd.unique(labels).tolist(), key=_sort_key)
        mapping = {label_key(value): index for index, value in enumerate(values)}
        return df.assign(**{label_field: labels}), mapping, problem_type
    mapping = label_mapping(labels, label_field, require_both_classes)
    by_value = {value: mapping[str(value)] for value in pd.unique(labels)}
    return (
        df.assign(**{label_field: labels.map(by_value).astype(np.int64)}),
        mapping,
        problem_type,
    )


def _scoring_type(labels: pd.Series) -> str:
    """A split scored with a model trained elsewhere: binary while it could be, else inferred."""
    inferred = infer_problem_type(labels)
    return BINARY if pd.unique(labels).size <= 2 else inferred


def whole_floats_as_int(labels: pd.Series) -> pd.Series:
    """A 0/1 label read from a CSV with gaps comes back as 0.0/1.0; map it as the 0/1 it was."""
    if pd.api.types.is_float_dtype(labels) and (labels == labels.round()).all():
        return labels.astype(np.int64)
    if pd.api.types.is_bool_dtype(labels):
        return labels.astype(np.int64)
    return labels


def label_mapping(
    labels: pd.Series, label_field: str, require_both_classes: bool
) -> dict[str, int]:
    """Sorted distinct values -> 0..n-1; labels already 0/1 keep their values even if one is absent,
    so a scoring split that happens to hold one class is not silently flipped."""
    values = sorted(pd.unique(labels).tolist(), key=_sort_key)
    if len(values) > 2:
        shown = values[:10]
        raise StepInputError(
            f"label column {label_field!r} has {len(values)} distinct values {shown}, too many "
            "for a binary label; set problem_type to multiclass or regression"
        )
    if set(values) <= {0, 1}:
        if require_both_classes and len(values) < 2:
            raise StepInputError(f"label column {label_field!r} holds only the value {values[0]!r}")
        return {"0": 0, "1": 1}
    if len(values) < 2:
        raise StepInputError(
            f"label column {label_field!r} holds only the value {values[0]!r}; cannot tell which "
            "class is positive (use 0/1 labels)"
        )
    return {str(value): index for index, value in enumerate(values)}


def _sort_key(value: Any) -> tuple[int, Any]:
    """Numbers by value, everything else by text, never mixing the two in one comparison."""
    is_number = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    return (0, value) if is_number else (1, str(value))


def unfitted_artifacts(
    df: pd.DataFrame,
    job_type: str,
    label_field: str,
    id_field: str | None,
    categorical: list[str] | None,
    mapping: dict[str, int],
) -> dict[str, Any]:
    excluded = {label_field, id_field}
    return {
        "fitted": False,
        "job_type": job_type,
        "label_field": label_field,
        "id_field": id_field,
        "label_mapping": mapping,
        "features": [str(c) for c in df.columns if c not in excluded],
        "categorical_columns": categorical,
    }


# ---------------------------------------------------------------- splitting


def split_table(
    df: pd.DataFrame,
    label_field: str,
    train_ratio: float,
    test_val_ratio: float,
    seed: int,
    stratify: bool = True,
) -> dict[str, pd.DataFrame]:
    """Train / val / test, stratified by class for a classifier; `test_val_ratio` of what is not
    train goes to test."""
    from sklearn.model_selection import train_test_split

    try:
        train, rest = train_test_split(
            df,
            train_size=train_ratio,
            stratify=df[label_field] if stratify else None,
            random_state=seed,
        )
        val, test = train_test_split(
            rest,
            test_size=test_val_ratio,
            stratify=rest[label_field] if stratify else None,
            random_state=seed,
        )
    except ValueError as exc:
        counts = df[label_field].value_counts().to_dict()
        raise StepInputError(
            f"cannot make stratified train/val/test splits from {len(df)} rows (label counts "
            f"{counts}) with TRAIN_RATIO={train_ratio}, TEST_VAL_RATIO={test_val_ratio}: {exc}. "
            "Provide more rows of each class or change the ratios"
        ) from None
    return {
        name: part.reset_index(drop=True)
        for name, part in (("train", train), ("val", val), ("test", test))
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--job_type", "--job-type", dest="job_type", default=TRAINING)
    args = parser.parse_args()
    for directory in CONTAINER_OUTPUTS.values():
        os.makedirs(directory, exist_ok=True)
    present = {name: path for name, path in CONTAINER_INPUTS.items() if os.path.isdir(path)}
    result_metrics = main(
        input_paths=present,
        output_paths=dict(CONTAINER_OUTPUTS),
        environ_vars={k: os.environ[k] for k in ENV_VARS if k in os.environ},
        job_args={"job_type": args.job_type},
    )
    print(json.dumps(result_metrics, indent=2))
