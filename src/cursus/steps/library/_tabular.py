"""Helpers shared by the step scripts: table I/O, the fitted feature transforms, model loading,
metrics and calibration.

This module travels with the scripts (SageMaker uploads the scripts folder as the source
directory; Package copies it into model.tar.gz/code/), so it imports nothing from Cursus and
imports heavy libraries only inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TABLE_FILE = "data.parquet"
PREPROCESSING_FILE = "preprocessing.json"
MODEL_META_FILE = "model_meta.json"
CALIBRATION_FILE = "calibration.json"
LOADER_NAME = re.compile(
    r"^_?[A-Za-z][A-Za-z0-9_]{0,63}$"
)  # a module name model_meta.json may give


class StepInputError(ValueError):
    """Input a step cannot use; the message says which file or field and how to fix it."""


# ---------------------------------------------------------------- problem types

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"
PROBLEM_TYPES = (BINARY, MULTICLASS, REGRESSION)
# whole-number labels with more distinct values than this are taken for a regression target
MAX_INFERRED_CLASSES = 20


def check_problem_type(value: str | None, where: str = "PROBLEM_TYPE") -> str | None:
    """`value` lower-cased when it is a problem type (None stays None), else a StepInputError."""
    if value is None or value == "":
        return None
    name = str(value).strip().lower()
    if name not in PROBLEM_TYPES:
        raise StepInputError(
            f"{where}={value!r} is not a problem type; use one of {list(PROBLEM_TYPES)}"
        )
    return name


def label_key(value: Any) -> str:
    """The text a class is known by in label_mapping: 3.0 read from a CSV is the class "3"."""
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _whole_numbers(values: np.ndarray) -> bool:
    return bool(np.all(np.mod(values, 1) == 0))


def infer_problem_type(labels: pd.Series) -> str:
    """The problem type a label column suggests: two values are binary; text, or a few whole
    numbers, multiclass; numbers with fractions, or many distinct whole numbers, regression."""
    present = labels.dropna()
    distinct = pd.unique(present)
    if len(distinct) <= 2:
        return BINARY
    numeric = pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present)
    if not numeric:
        return MULTICLASS
    values = present.to_numpy(dtype=np.float64)
    if _whole_numbers(values) and len(distinct) <= MAX_INFERRED_CLASSES:
        return MULTICLASS
    return REGRESSION


def label_misfit(labels: pd.Series, problem_type: str) -> str | None:
    """Why `labels` cannot be the target of `problem_type`, or None when they fit."""
    present = labels.dropna()
    distinct = pd.unique(present)
    numeric = pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present)
    shown = sorted(map(label_key, distinct[:50]))[:8]
    if problem_type == BINARY and len(distinct) > 2:
        return (
            f"holds {len(distinct)} distinct values {shown}, but problem_type is binary; set "
            "problem_type to multiclass (or regression for a numeric target), or map the label "
            "to two classes"
        )
    if problem_type == MULTICLASS:
        if numeric and not _whole_numbers(present.to_numpy(dtype=np.float64)):
            return (
                "holds numbers with fractions, which are not classes; set problem_type to "
                "regression, or bin the target into classes"
            )
        if len(distinct) < 2:
            return f"holds {len(distinct)} distinct value(s); a classifier needs at least two"
    if problem_type == REGRESSION and not numeric:
        return (
            f"holds text values {shown}, but problem_type is regression; set problem_type to "
            "binary or multiclass, or give a numeric target"
        )
    return None


def problem_type_of(artifacts: dict[str, Any]) -> str:
    """The problem type preprocessing (or a model's meta) records; binary for older artifacts."""
    return str(artifacts.get("problem_type") or BINARY)


def class_names(artifacts: dict[str, Any]) -> list[str]:
    """The classes in index order (label_mapping: original value -> index); [] for regression."""
    mapping = artifacts.get("label_mapping") or {}
    return [name for name, _ in sorted(mapping.items(), key=lambda item: item[1])]


def encode_labels(labels: pd.Series, artifacts: dict[str, Any], where: str | Path) -> np.ndarray:
    """The label column as the model's targets: class indices (classification) or floats.

    A binary split holds 0/1 already (TabularPreprocessing maps it); a multiclass split holds the
    original classes, mapped here through the training label_mapping, so a split that lacks a
    class (or holds them in another order) is still scored against the right index.
    """
    problem_type = problem_type_of(artifacts)
    field = labels.name
    if len(labels) == 0 or labels.isna().any():
        raise StepInputError(
            f"{where}: label column {field!r} must have a value in every row of a non-empty table; "
            "feed this step the processed_data output of TabularPreprocessing"
        )
    if problem_type == REGRESSION:
        values = pd.to_numeric(labels, errors="coerce")
        if values.isna().any():
            raise StepInputError(f"{where}: label column {field!r} must hold numbers (regression)")
        return values.to_numpy(dtype=np.float64)
    if problem_type == BINARY:
        if not set(labels.unique().tolist()) <= {0, 1}:
            raise StepInputError(
                f"{where}: label column {field!r} must hold 0/1 values; evaluate the "
                "processed_data output of TabularPreprocessing"
            )
        return labels.to_numpy(dtype=np.int64)
    mapping = artifacts.get("label_mapping") or {}
    keys = labels.map(label_key)
    unseen = sorted(set(keys) - set(mapping))
    if unseen:
        raise StepInputError(
            f"{where}: label column {field!r} holds classes {unseen[:8]} the model was not "
            f"trained on (it knows {list(mapping)[:20]}); train on data that has every class"
        )
    return keys.map(mapping).to_numpy(dtype=np.int64)


def n_outputs(artifacts: dict[str, Any]) -> int:
    """Columns of the model's output: one per class for multiclass, else one."""
    return len(class_names(artifacts)) if problem_type_of(artifacts) == MULTICLASS else 1


def prob_columns(n_classes: int) -> list[str]:
    return [f"prob_{k}" for k in range(n_classes)]


def prediction_columns(problem_type: str, pred: np.ndarray) -> dict[str, np.ndarray]:
    """The score columns of a predictions table: prob (binary), prob_<k> and prediction
    (multiclass: the most probable class index) or prediction (regression)."""
    if problem_type == MULTICLASS:
        columns = {name: pred[:, k] for k, name in enumerate(prob_columns(pred.shape[1]))}
        columns["prediction"] = pred.argmax(axis=1).astype(np.int64)
        return columns
    if problem_type == REGRESSION:
        return {"prediction": pred}
    return {"prob": pred}


def scores_from_predictions(
    df: pd.DataFrame, problem_type: str, score_field: str = "prob"
) -> np.ndarray:
    """The model's output read back from a predictions table (see prediction_columns)."""
    if problem_type == MULTICLASS:
        names = sorted(
            (c for c in df.columns if re.fullmatch(r"prob_\d+", str(c))),
            key=lambda c: int(str(c)[5:]),
        )
        if not names or names != prob_columns(len(names)):
            raise StepInputError(
                "a multiclass predictions table needs columns prob_0 .. prob_<K-1>; feed this "
                "step the eval_output of a model evaluation or inference step"
            )
        return df[names].to_numpy(dtype=np.float64)
    column = "prediction" if problem_type == REGRESSION else score_field
    if column not in df.columns:
        raise StepInputError(f"the predictions table has no {column!r} column")
    return pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=np.float64)


# ---------------------------------------------------------------- environment and JSON


def env_str(environ: dict[str, str], name: str, default: str | None = None) -> str | None:
    value = environ.get(name)
    return default if value is None or value == "" else value


def env_int(environ: dict[str, str], name: str, default: int) -> int:
    value = env_str(environ, name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise StepInputError(f"environment variable {name}={value!r} is not an integer") from None


def env_float(environ: dict[str, str], name: str, default: float) -> float:
    value = env_str(environ, name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise StepInputError(f"environment variable {name}={value!r} is not a number") from None


def env_json(environ: dict[str, str], name: str, default: Any = None) -> Any:
    value = env_str(environ, name)
    if value is None:
        return default
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise StepInputError(f"environment variable {name} is not valid JSON: {value!r}") from None


def load_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise StepInputError(f"expected file {path} is missing")
    return json.loads(path.read_text())


def save_json(obj: Any, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__}")


# ---------------------------------------------------------------- tables


def read_table(directory: str | Path) -> pd.DataFrame:
    """Read the one table in `directory` (data.parquet, or a single .parquet/.csv file), with
    the ids of the fitted transforms already applied to it in `df.attrs` (see TRANSFORMS_FILE)."""
    directory = Path(directory)
    if directory.is_file():
        return _read_file(directory)
    preferred = directory / TABLE_FILE
    if preferred.is_file():
        df = pd.read_parquet(preferred)
    else:
        files = sorted(p for p in directory.glob("*") if p.suffix in {".parquet", ".csv"})
        if not files:
            raise StepInputError(f"no data.parquet (or other table file) in {directory}")
        df = pd.concat([_read_file(p) for p in files], ignore_index=True)
    marker = directory / TRANSFORMS_FILE
    df.attrs[APPLIED] = list(load_json(marker)["applied"]) if marker.is_file() else []
    return df


def _read_file(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def write_table(df: pd.DataFrame, directory: str | Path, applied: list[str] | None = None) -> Path:
    """Write `df` as directory/data.parquet; `applied` (default: what `df.attrs` says) names the
    fitted transforms it has been through, so later steps apply only the rest of the chain."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / TABLE_FILE
    df.to_parquet(path, index=False)
    applied = list(df.attrs.get(APPLIED, [])) if applied is None else list(applied)
    if applied:
        save_json({"applied": applied}, directory / TRANSFORMS_FILE)
    return path


def split_dir(processed_dir: str | Path, job_type: str) -> Path:
    """The split of a processed_data output to evaluate for `job_type`.

    Training outputs hold train/, val/ and test/; other job types hold <job_type>/. Evaluating a
    training output uses its test split.
    """
    processed_dir = Path(processed_dir)
    for name in (job_type, "test"):
        candidate = processed_dir / name
        if candidate.is_dir():
            return candidate
    found = (
        sorted(p.name for p in processed_dir.iterdir() if p.is_dir())
        if processed_dir.is_dir()
        else []
    )
    if len(found) == 1:
        return processed_dir / found[0]
    raise StepInputError(
        f"{processed_dir} has no '{job_type}/' or 'test/' split (found: {found or 'nothing'}); "
        "feed this step the processed_data output of TabularPreprocessing"
    )


def load_training_split(input_dir: str | Path, split: str, label_field: str) -> pd.DataFrame:
    """One split (train/ or val/) of a training job type's processed_tabular, with its label."""
    directory = Path(input_dir) / split
    if not directory.is_dir():
        raise StepInputError(
            f"{directory} is missing; input_path must be the processed_data output of a "
            "TabularPreprocessing step with job_type 'training' (train/, val/, test/)"
        )
    df = read_table(directory)
    if label_field not in df.columns:
        raise StepInputError(
            f"label column {label_field!r} is not in {directory}; set LABEL_FIELD to the label "
            "column TabularPreprocessing wrote"
        )
    if df.empty:
        raise StepInputError(f"{directory} holds no rows; run TabularPreprocessing first")
    return df


def training_problem_type(environ: dict[str, str], preprocessing: dict[str, Any]) -> str:
    """The problem type preprocessing recorded; a PROBLEM_TYPE set on a training step must agree."""
    recorded = problem_type_of(preprocessing)
    asked = check_problem_type(env_str(environ, "PROBLEM_TYPE"))
    if asked is not None and asked != recorded:
        raise StepInputError(
            f"PROBLEM_TYPE={asked} but the preprocessing artifacts were fitted for a {recorded} "
            "label; set the same problem_type on TabularPreprocessing and on this step"
        )
    return recorded


# ---------------------------------------------------------------- feature transforms


def fit_preprocessing(
    train: pd.DataFrame,
    label_field: str,
    id_field: str | None,
    categorical_columns: list[str] | None,
    label_mapping: dict[str, int],
) -> dict[str, Any]:
    """Fit median imputation and categorical encoding on the train split."""
    excluded = {label_field} | ({id_field} if id_field else set())
    features = [c for c in train.columns if c not in excluded]
    if categorical_columns is None:
        categorical_columns = [
            c
            for c in features
            if not pd.api.types.is_numeric_dtype(train[c]) or pd.api.types.is_bool_dtype(train[c])
        ]
    unknown = sorted(set(categorical_columns) - set(features))
    if unknown:
        raise StepInputError(f"CATEGORICAL_COLUMNS names columns that are not features: {unknown}")
    categories = {
        c: sorted(train[c].dropna().astype(str).unique().tolist()) for c in categorical_columns
    }
    numeric = [c for c in features if c not in categories]
    impute = {}
    for c in numeric:
        median = pd.to_numeric(train[c], errors="coerce").median()
        impute[c] = 0.0 if pd.isna(median) else float(median)
    stats = {
        c: {
            "min": _finite(pd.to_numeric(train[c], errors="coerce").min()),
            "max": _finite(pd.to_numeric(train[c], errors="coerce").max()),
        }
        for c in numeric
    }
    return {
        "fitted": True,
        "label_field": label_field,
        "id_field": id_field,
        "label_mapping": label_mapping,
        "features": features,
        "numeric_impute": impute,
        "numeric_stats": stats,
        "categories": categories,
    }


def _finite(value: Any) -> float:
    value = float(value)
    return value if math.isfinite(value) else 0.0


def apply_preprocessing(df: pd.DataFrame, artifacts: dict[str, Any]) -> np.ndarray:
    """Turn raw feature columns into the float32 matrix the model was trained on: the fitted
    transforms the rows have not been through yet (all of them for rows from a request), then
    the encoding TabularPreprocessing fitted."""
    if not artifacts.get("fitted"):
        raise StepInputError(
            "preprocessing artifacts were not fitted (they come from a TabularPreprocessing step "
            "whose job_type is not 'training'); bind the training preprocessing output instead"
        )
    chain = transform_chain(artifacts)
    if chain:
        df = apply_transforms(df, pending_transforms(chain, df.attrs.get(APPLIED, [])))
    return encode_features(df, artifacts)


def encode_features(df: pd.DataFrame, artifacts: dict[str, Any]) -> np.ndarray:
    """The encoding alone, for rows that have been through the whole transform chain."""
    features: list[str] = artifacts["features"]
    missing = [c for c in features if c not in df.columns]
    if missing:
        raise StepInputError(f"input is missing feature columns {missing}")
    if not features:
        return np.zeros((len(df), 0), dtype=np.float32)
    categories: dict[str, list[str]] = artifacts["categories"]
    numeric = [c for c in features if c not in categories]
    out = np.empty((len(df), len(features)), dtype=np.float64)
    position = {c: i for i, c in enumerate(features)}
    if numeric:
        out[:, [position[c] for c in numeric]] = _numeric_block(
            df, numeric, artifacts["numeric_impute"]
        )
    for c in categories:
        codes = {v: i for i, v in enumerate(categories[c])}
        # unseen or missing categories map to -1, a value the model saw for neither
        out[:, position[c]] = (
            df[c].astype("string").map(codes).astype("float64").fillna(-1.0).to_numpy()
        )
    return out.astype(np.float32)


# ---------------------------------------------------------------- the fitted transform chain
#
# Steps such as MissingValueImputation and RiskTableMapping fit a transform on the training split
# and append it to preprocessing.json's "transforms"; the encoding fields there describe the
# columns as the last transform leaves them. The data they write has been through the chain so
# far, and says so in TRANSFORMS_FILE beside data.parquet; a request served by the packaged model
# has been through none of it. apply_preprocessing applies what is left, so no row is
# transformed twice.

TRANSFORMS_FILE = "transforms_applied.json"
APPLIED = "cursus_transforms_applied"  # df.attrs key read_table sets


def transform_chain(artifacts: dict[str, Any]) -> list[dict[str, Any]]:
    return list(artifacts.get("transforms") or [])


def new_transform(kind: str, step_type: str, **params: Any) -> dict[str, Any]:
    """A chain entry; its id digests what it does, so equal fits have equal ids."""
    body = {"kind": kind, "step_type": step_type, **params}
    text = json.dumps(body, sort_keys=True, default=_json_default)
    return {"id": f"{step_type}#{hashlib.sha256(text.encode()).hexdigest()[:12]}", **body}


def pending_transforms(chain: list[dict[str, Any]], applied: list[str]) -> list[dict[str, Any]]:
    ids = [t["id"] for t in chain]
    if list(applied) != ids[: len(applied)]:
        raise StepInputError(
            f"the rows went through the transforms {list(applied)}, which do not begin the fitted "
            f"chain {ids}; feed this step data processed by the same fitted steps (the "
            "preprocessing_artifacts of their _training nodes)"
        )
    return chain[len(applied) :]


def apply_transforms(df: pd.DataFrame, transforms: list[dict[str, Any]]) -> pd.DataFrame:
    """`df` after each transform in turn; a column a transform names but `df` lacks is skipped
    (a request needs only the features the model uses)."""
    if not transforms:
        return df
    applied = list(df.attrs.get(APPLIED, []))
    df = df.copy()
    for transform in transforms:
        kind = transform.get("kind")
        apply = _TRANSFORM_KINDS.get(str(kind))
        if apply is None:
            raise StepInputError(
                f"preprocessing.json has a transform of kind {kind!r} this code does not know "
                f"(known: {sorted(_TRANSFORM_KINDS)}); package the model with the Cursus that "
                "trained it"
            )
        df = apply(df, transform)
        applied.append(transform["id"])
    df.attrs[APPLIED] = applied
    return df


def _impute(df: pd.DataFrame, transform: dict[str, Any]) -> pd.DataFrame:
    for column, value in transform["values"].items():
        if column in df.columns and df[column].isna().any():
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            if numeric:
                filled = pd.to_numeric(df[column], errors="coerce").fillna(value)
            else:
                filled = df[column].astype("object").where(df[column].notna(), value)
            df[column] = filled
    return df


def _risk_table(df: pd.DataFrame, transform: dict[str, Any]) -> pd.DataFrame:
    for column, table in transform["tables"].items():
        if column in df.columns:
            keys = df[column].map(label_key, na_action="ignore")
            risk = keys.map(table["risk"]).astype("float64")
            df[column] = risk.fillna(float(table["default"])).to_numpy()
    return df


def _select(df: pd.DataFrame, transform: dict[str, Any]) -> pd.DataFrame:
    keep = [c for c in df.columns if c in {*transform["keep"], *transform["pass_columns"]}]
    return df[keep]


def _currency(df: pd.DataFrame, transform: dict[str, Any]) -> pd.DataFrame:
    field = transform["currency_field"]
    amounts = [c for c in transform["amount_fields"] if c in df.columns]
    if not amounts:
        return df
    if field not in df.columns:
        raise StepInputError(
            f"currency column {field!r} is missing; the amounts {amounts} need it to be converted"
        )
    codes = df[field].astype("object").where(df[field].notna(), transform["default_currency"])
    if codes.isna().any():
        raise StepInputError(
            f"{int(codes.isna().sum())} row(s) have no {field!r}; set default_currency on "
            "CurrencyConversion or fill the column"
        )
    rates = codes.astype(str).str.upper().map(transform["rates"])
    unknown = sorted(set(codes[rates.isna()].astype(str)))
    if unknown:
        raise StepInputError(
            f"no exchange rate for currency {unknown[:10]} in column {field!r}; add them to "
            f"exchange_rates (known: {sorted(transform['rates'])})"
        )
    for column in amounts:
        df[column] = pd.to_numeric(df[column], errors="coerce") * rates.to_numpy()
    return df


_TRANSFORM_KINDS = {
    "impute": _impute,
    "risk_table": _risk_table,
    "select": _select,
    "currency": _currency,
}


def run_transform_step(
    step_type: str,
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    job_type: str,
    fit: Any,
) -> dict[str, float]:
    """What every fitted-transform step does with its processed_data and preprocessing_artifacts.

    Training job type: `fit(train, artifacts)` returns the transform fitted on the train split
    and the artifacts with the encoding updated for the columns it changes; the transform is
    appended to the chain and applied to every split. Other job types apply, with the artifacts of
    the `_training` node, the chain up to this step type's transform. Each split is written with
    the record of what it has been through.
    """
    artifacts_dir = input_paths.get("preprocessing_artifacts")
    if not artifacts_dir or not (Path(artifacts_dir) / PREPROCESSING_FILE).is_file():
        raise StepInputError(
            f"{step_type} needs preprocessing_artifacts (preprocessing.json): from "
            f"TabularPreprocessing_training for the training job type, from {step_type}_training "
            "for the others"
        )
    artifacts = load_preprocessing(artifacts_dir)
    if not artifacts.get("fitted"):
        raise StepInputError(
            f"{artifacts_dir}/{PREPROCESSING_FILE} was not fitted (a non-training "
            f"TabularPreprocessing wrote it); bind {step_type}_training's preprocessing_artifacts"
        )
    source, out = Path(input_paths["processed_data"]), Path(output_paths["processed_data"])
    splits = sorted(p.name for p in source.iterdir() if p.is_dir()) if source.is_dir() else []
    if not splits:
        raise StepInputError(f"{source} holds no split folders; feed it a processed_data output")
    chain = transform_chain(artifacts)
    metrics: dict[str, float] = {}
    if job_type == "training":
        if "train" not in splits:
            raise StepInputError(
                f"{source} has no train/ split (found {splits}); the training job type fits on "
                "the processed_data of a training TabularPreprocessing"
            )
        train = read_table(source / "train")
        train = apply_transforms(train, pending_transforms(chain, train.attrs.get(APPLIED, [])))
        transform, artifacts = fit(train, artifacts)
        chain = [*chain, transform]
        artifacts = {**artifacts, "transforms": chain}
        metrics["fitted"] = 1.0
    for split in splits:
        df = read_table(source / split)
        pending = pending_transforms(chain, df.attrs.get(APPLIED, []))
        upto = next((i for i, t in enumerate(pending) if t.get("step_type") == step_type), None)
        if upto is None:
            raise StepInputError(
                f"the preprocessing_artifacts hold no {step_type} transform that {source / split} "
                f"has not been through yet; bind the preprocessing_artifacts of {step_type}_training"
            )
        df = apply_transforms(df, pending[: upto + 1])
        write_table(df, out / split)
        metrics[f"n_{split}"] = float(len(df))
    save_json(artifacts, Path(output_paths["preprocessing_artifacts"]) / PREPROCESSING_FILE)
    return metrics


def encoding_as_numeric(
    artifacts: dict[str, Any], train: pd.DataFrame, columns: list[str]
) -> dict[str, Any]:
    """The artifacts with `columns` encoded as numbers, imputed and bounded from `train` (after a
    transform made them numeric or changed their scale)."""
    categories = {c: v for c, v in artifacts["categories"].items() if c not in columns}
    impute = dict(artifacts["numeric_impute"])
    stats = dict(artifacts.get("numeric_stats", {}))
    for c in columns:
        values = pd.to_numeric(train[c], errors="coerce")
        median = values.median()
        impute[c] = 0.0 if pd.isna(median) else float(median)
        stats[c] = {"min": _finite(values.min()), "max": _finite(values.max())}
    return {**artifacts, "categories": categories, "numeric_impute": impute, "numeric_stats": stats}


def _numeric_block(df: pd.DataFrame, columns: list[str], impute: dict[str, float]) -> np.ndarray:
    """The numeric features as one float matrix with missing values imputed.

    One numpy conversion of the whole block is what keeps single-row serving fast; a column holding
    text that is not a number falls back to per-column coercion (such text counts as missing).
    """
    try:
        block = df[columns].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        block = np.column_stack(
            [pd.to_numeric(df[c], errors="coerce").astype("float64").to_numpy() for c in columns]
        )
    fill = np.array([impute[c] for c in columns], dtype=np.float64)
    return np.where(np.isnan(block), fill, block)


def load_preprocessing(directory: str | Path) -> dict[str, Any]:
    return load_json(Path(directory) / PREPROCESSING_FILE)


# ---------------------------------------------------------------- models


class LoadedModel:
    """A trained model with its preprocessing: raw rows in, positive-class probabilities out.

    The framework's loader is the module model_meta.json names in `loader`, else
    `_model_<framework>` (the framework table's `model_loader`): a `<loader>.py` inside the
    model folder wins (a model brings its own), else the one beside the scripts.
    """

    def __init__(self, model_dir: str | Path) -> None:
        model_dir = Path(model_dir)
        self.meta: dict[str, Any] = load_json(model_dir / MODEL_META_FILE)
        self.preprocessing: dict[str, Any] = load_json(model_dir / PREPROCESSING_FILE)
        self.framework: str = self.meta["framework"]
        loader = model_loader(model_dir, self.meta)
        self._model = loader.load(model_dir, self.meta, self.preprocessing)

    @property
    def features(self) -> list[str]:
        return list(self.preprocessing["features"])

    @property
    def problem_type(self) -> str:
        return problem_type_of(self.meta if "problem_type" in self.meta else self.preprocessing)

    @property
    def classes(self) -> list[str]:
        return class_names(self.preprocessing)

    def predict_matrix(self, X: np.ndarray) -> np.ndarray:
        """Binary: the positive-class probability per row; multiclass: one probability per
        class (rows sum to 1); regression: the predicted value."""
        out = np.asarray(self._model.predict_matrix(X), dtype=np.float64)
        if self.problem_type == MULTICLASS:
            return out.reshape(len(X), -1)
        return out.reshape(len(X))

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        return self.predict_matrix(apply_preprocessing(df, self.preprocessing))

    predict = predict_proba


def loader_name(meta: dict[str, Any]) -> str:
    return str(meta.get("loader") or "_model_" + str(meta.get("framework")))


def model_loader(model_dir: Path, meta: dict[str, Any]) -> Any:
    """The loader module of the model in `model_dir` (see LoadedModel)."""
    name = loader_name(meta)
    if not LOADER_NAME.match(name):
        raise StepInputError(f"{model_dir / MODEL_META_FILE}: loader {name!r} is not a module name")
    # the model's own loader, else the one beside this module (code/ of a packaged model)
    for path in (model_dir / (name + ".py"), Path(__file__).resolve().parent / (name + ".py")):
        if not path.is_file():
            continue
        key = f"{path}:{path.stat().st_mtime_ns}"
        module_name = "cursus_model_loader_" + hashlib.sha256(key.encode()).hexdigest()[:12]
        if module_name not in sys.modules:
            spec = importlib.util.spec_from_file_location(module_name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        return sys.modules[module_name]
    raise StepInputError(
        f"{model_dir / MODEL_META_FILE}: framework {meta.get('framework')!r} has no model "
        f"loader here ({name}.py neither in the model folder nor beside the scripts); train "
        "the model with a training step of a framework Cursus loads"
    )


def load_model(model_dir: str | Path) -> LoadedModel:
    return LoadedModel(model_dir)


# ---------------------------------------------------------------- metrics and calibration


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        f1_score,
        log_loss,
        roc_auc_score,
    )

    y = np.asarray(y).astype(int)
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    predicted = (p >= threshold).astype(int)
    both_classes = len(np.unique(y)) == 2
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both_classes else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both_classes else float("nan"),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "accuracy": float(accuracy_score(y, predicted)),
        "f1": float(f1_score(y, predicted, zero_division=0)),
        "n_samples": len(y),
        "positive_rate": float(y.mean()) if len(y) else float("nan"),
    }


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """Weighted mean gap between predicted and observed positive rate over equal-width bins."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if len(y) == 0:
        return float("nan")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(p[mask].mean() - y[mask].mean())
    return float(ece)


def apply_calibration(p: np.ndarray, calibration: dict[str, Any]) -> np.ndarray:
    """Map raw scores to calibrated probabilities with a calibration.json document.

    A multiclass document holds one one-vs-rest calibrator per class (`per_class`): each maps its
    class's column, and the rows are renormalised to sum to 1.
    """
    p = np.asarray(p, dtype=np.float64)
    if calibration.get("problem_type") == MULTICLASS:
        per_class = calibration["per_class"]
        if p.ndim != 2 or p.shape[1] != len(per_class):
            raise StepInputError(
                f"calibration.json calibrates {len(per_class)} classes but the model gives "
                f"{p.shape[1] if p.ndim == 2 else 1} scores per row; calibrate this model's output"
            )
        columns = [_apply_one(p[:, k], c) for k, c in enumerate(per_class)]
        calibrated = np.clip(np.column_stack(columns), 1e-12, None)
        return calibrated / calibrated.sum(axis=1, keepdims=True)
    return _apply_one(p, calibration)


def _apply_one(p: np.ndarray, calibration: dict[str, Any]) -> np.ndarray:
    method = calibration["method"]
    if method == "isotonic":
        return np.interp(p, calibration["x"], calibration["y"])
    if method == "sigmoid":
        return 1.0 / (1.0 + np.exp(calibration["a"] * p + calibration["b"]))
    if method == "percentile":
        return np.interp(p, calibration["score_quantiles"], calibration["levels"])
    if method == "gam":
        z = np.log(np.clip(p, 1e-6, 1 - 1e-6) / (1 - np.clip(p, 1e-6, 1 - 1e-6)))
        hinges = [np.maximum(z - k, 0.0) for k in calibration["knots"]]
        f = calibration["intercept"] + np.column_stack([z, *hinges]) @ np.asarray(
            calibration["coefs"]
        )
        return 1.0 / (1.0 + np.exp(-np.clip(f, -500, 500)))
    raise StepInputError(f"calibration.json: unknown method {method!r}")


def model_dir_from_env() -> Path:
    return Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))


# ---------------------------------------------------------------- archives

ARCHIVE_MTIME = 946684800  # 2000-01-01: fixed so equal inputs give equal bytes; tar warns on 1970


def write_deterministic_tar(tar_path: str | Path, files: dict[str, str | Path]) -> Path:
    """Write a .tar.gz of `files` (name in archive -> source file) whose bytes depend only on the
    names and contents, so a repeated step gives the same digest and caches can key on it."""
    import contextlib
    import gzip
    import io
    import tarfile

    tar_path = Path(tar_path)
    tar_path.parent.mkdir(parents=True, exist_ok=True)
    # an ExitStack, not one parenthesised `with`: that form is a SyntaxError before Python 3.9,
    # the images' Python until 2025
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(open(tar_path, "wb"))
        gz = stack.enter_context(gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0))
        tar = stack.enter_context(tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT))
        for name in sorted(files):
            data = Path(files[name]).read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = ARCHIVE_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    return tar_path


def extract_archive(archive: str | Path, destination: str | Path) -> Path:
    """Unpack a .tar.gz into `destination`, refusing members that would land outside it.

    tarfile's own "data" filter does that check, but only Pythons patched in 2023 or later have
    it (3.8.17, 3.9.17, 3.10.12); an image's older interpreter gets the same check done here.
    """
    import tarfile

    archive, destination = Path(archive), Path(destination)
    with tarfile.open(archive, "r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(destination, filter="data")
            return destination
        root = destination.resolve()
        for member in tar.getmembers():
            target = (root / member.name).resolve()
            unsafe = member.issym() or member.islnk() or member.isdev()
            if unsafe or (target != root and root not in target.parents):
                raise StepInputError(
                    f"{archive}: member {member.name!r} is a link, a device or leaves the "
                    "archive's folder; rebuild the archive with the Package step"
                )
        tar.extractall(destination)
    return destination


# ---------------------------------------------------------------- container entry points

HYPERPARAMETERS_PATH = "/opt/ml/input/config/hyperparameters.json"


def container_hyperparameters(path: str | Path = HYPERPARAMETERS_PATH) -> dict[str, Any]:
    """The hyperparameters a SageMaker training job was given, with their types back.

    SageMaker stores every value as a string ("200", "0.1", "[64, 32]"), so each is JSON-decoded
    where it decodes and kept as text otherwise; the sagemaker_* entries script mode adds are not
    the step's and are dropped.
    """
    path = Path(path)
    raw = json.loads(path.read_text()) if path.is_file() else {}
    return {k: _decode_json_text(v) for k, v in raw.items() if not k.startswith("sagemaker_")}


def _decode_json_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


# ---------------------------------------------------------------- evaluation

PREDICTIONS_FILE = "predictions.parquet"
METRICS_FILE = "metrics.json"
# beside the predictions: the metrics with the data they were measured on; ModelCalibration
# and Package carry it into model.tar.gz, where Registration reads it (what a model scored)
EVALUATION_FILE = "evaluation.json"


def run_evaluation(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    """Score one split with a trained model and report the metrics of its problem type, with
    plots: ROC and PR curves (binary), per-class and macro metrics with a confusion matrix
    (multiclass), errors with predicted-against-actual (regression).

    Shared by every model evaluation step: LoadedModel hides the framework, so the steps differ
    only in which training step they accept.
    """
    import _metrics

    model, df, split, label_field = _scoring_inputs(input_paths, environ_vars, job_args)
    if label_field not in df.columns:
        raise StepInputError(
            f"label column {label_field!r} is not in {split}; set LABEL_FIELD to the label column "
            "TabularPreprocessing wrote (or use a model inference step for data without labels)"
        )
    y = encode_labels(
        df[label_field], {**model.preprocessing, "problem_type": model.problem_type}, split
    )
    id_field = _evaluation_id_field(df, env_str(environ_vars, "ID_FIELD"), model, split)
    pred = model.predict_proba(df)
    _write_predictions(output_paths["eval_output"], model, df, pred, label_field, y, id_field)

    metrics = _metrics.problem_metrics(model.problem_type, y, pred, model.classes)
    metrics_dir = Path(output_paths["metrics_output"])
    plotted = _metrics.plot_problem(model.problem_type, y, pred, model.classes, metrics_dir)
    written = _nan_to_none(metrics)
    if not plotted:
        written[PLOTS_SKIPPED] = MATPLOTLIB_MISSING
    save_json(written, metrics_dir / METRICS_FILE)
    save_json(
        {
            "metrics": {k: v for k, v in written.items() if _is_number(v) or v is None},
            "data": evaluated_on(split, job_args, label_field, model, y),
        },
        Path(output_paths["eval_output"]) / EVALUATION_FILE,
    )
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def evaluated_on(
    split: Path, job_args: dict[str, Any], label_field: str, model: LoadedModel, y: np.ndarray
) -> dict[str, Any]:
    """The data an evaluation measured: which split, how many rows, and of which classes."""
    data: dict[str, Any] = {
        "split": split.name,
        "job_type": job_args.get("job_type") or "testing",
        "rows": len(y),
        "label_field": label_field,
        "problem_type": model.problem_type,
    }
    if model.problem_type != REGRESSION:
        names = model.classes or ["0", "1"]
        counts = np.bincount(y.astype(np.int64), minlength=len(names))
        data["class_counts"] = {
            (names[k] if k < len(names) else str(k)): int(n) for k, n in enumerate(counts)
        }
    return data


def run_inference(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    """Predictions for a split, labelled or not, in the layout run_evaluation writes (so metrics
    and calibration steps can follow), without computing metrics. A label column that is there
    is carried along, encoded as the model's targets."""
    model, df, split, label_field = _scoring_inputs(input_paths, environ_vars, job_args)
    y = None
    if label_field in df.columns and df[label_field].notna().all() and len(df):
        y = encode_labels(
            df[label_field], {**model.preprocessing, "problem_type": model.problem_type}, split
        )
    id_field = _evaluation_id_field(df, env_str(environ_vars, "ID_FIELD"), model, split)
    pred = model.predict_proba(df)
    _write_predictions(output_paths["eval_output"], model, df, pred, label_field, y, id_field)
    return {"n_predictions": float(len(df)), "labelled": float(y is not None)}


def _scoring_inputs(
    input_paths: dict[str, str], environ_vars: dict[str, str], job_args: dict[str, Any]
) -> tuple[LoadedModel, pd.DataFrame, Path, str]:
    model = LoadedModel(input_paths["model_input"])
    split = split_dir(input_paths["processed_data"], job_args.get("job_type") or "testing")
    df = read_table(split)
    label_field = (
        env_str(environ_vars, "LABEL_FIELD")
        or model.meta.get("label_field")
        or model.preprocessing.get("label_field")
        or "label"
    )
    return model, df, split, label_field


def _write_predictions(
    directory: str,
    model: LoadedModel,
    df: pd.DataFrame,
    pred: np.ndarray,
    label_field: str,
    y: np.ndarray | None,
    id_field: str | None,
) -> Path:
    columns: dict[str, Any] = {}
    if id_field:
        columns[id_field] = df[id_field].to_numpy()
    if y is not None:
        columns[label_field] = y
    columns.update(prediction_columns(model.problem_type, pred))
    eval_dir = Path(directory)
    eval_dir.mkdir(parents=True, exist_ok=True)
    path = eval_dir / PREDICTIONS_FILE
    pd.DataFrame(columns).to_parquet(path, index=False)
    return path


def _evaluation_id_field(
    df: pd.DataFrame, requested: str | None, model: LoadedModel, split: Path
) -> str | None:
    """An ID_FIELD set on this step must exist; one inherited from preprocessing is used if present."""
    if requested:
        if requested not in df.columns:
            raise StepInputError(
                f"ID_FIELD column {requested!r} is not in {split}; unset ID_FIELD or fix it"
            )
        return requested
    inherited = model.preprocessing.get("id_field")
    return inherited if inherited and inherited in df.columns else None


def _nan_to_none(metrics: dict[str, float]) -> dict[str, Any]:
    """Strict JSON has no NaN (an AUC is undefined when a split holds one class)."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in metrics.items()}


# ---------------------------------------------------------------- plots

PLOTS_SKIPPED = "plots_skipped"
MATPLOTLIB_MISSING = (
    "matplotlib is not installed in this image (the scikit-learn processing image has none), "
    "so no plots were drawn; the metrics are complete"
)


def load_pyplot() -> Any | None:
    """matplotlib.pyplot on the Agg backend, or None where matplotlib is missing.

    The scikit-learn processing image has no matplotlib and jobs may have no internet to install
    it, so a plot is a nicety: a step without matplotlib says so (printed, and as PLOTS_SKIPPED in
    its metrics file) and carries on. Plotting code must keep to matplotlib 3.4's API, the
    XGBoost image's version.
    """
    try:
        import matplotlib
    except ImportError:
        print(f"note: {MATPLOTLIB_MISSING}")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# Margins of a 5 x 5 in plot whose tick and axis labels are fixed words: fig.tight_layout() would
# draw the figure once more just to measure them, a third of the plot's time (~20 ms).
SQUARE_PLOT_MARGINS = {"left": 0.15, "right": 0.96, "bottom": 0.11, "top": 0.93}


def plot_roc_pr_curves(y: np.ndarray, p: np.ndarray, directory: str | Path) -> bool:
    """Write roc_curve.png and pr_curve.png (with one class only, each says why it has no
    curve); False, with nothing written, when matplotlib is missing."""
    plt = load_pyplot()
    if plt is None:
        return False
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    both_classes = len(np.unique(y)) == 2
    for name, title in (("roc_curve", "ROC curve"), ("pr_curve", "Precision-recall curve")):
        fig, ax = plt.subplots(figsize=(5, 5))
        if not both_classes:
            ax.text(0.5, 0.5, "undefined: the split holds one class", ha="center", va="center")
        elif name == "roc_curve":
            fpr, tpr, _ = roc_curve(y, p)
            ax.plot(fpr, tpr, label=f"AUC = {auc(fpr, tpr):.3f}")
            ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
            ax.set(xlabel="False positive rate", ylabel="True positive rate")
            ax.legend(loc="lower right")
        else:
            precision, recall, _ = precision_recall_curve(y, p)
            ax.step(recall, precision, where="post", label=f"positive rate = {y.mean():.3f}")
            ax.set(xlabel="Recall", ylabel="Precision", ylim=(0, 1.02))
            ax.legend(loc="lower left")
        ax.set_title(title)
        fig.subplots_adjust(**SQUARE_PLOT_MARGINS)
        fig.savefig(directory / f"{name}.png", dpi=100)
        plt.close(fig)
    return True
