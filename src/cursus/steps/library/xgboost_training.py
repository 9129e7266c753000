"""XGBoostTraining: an XGBoost model with early stopping on the val split, for the problem type
preprocessing recorded: a binary or multiclass classifier (binary:logistic, multi:softprob) or a
regressor (reg:squarederror by default).

The features are the ones TabularPreprocessing fitted on the train split, applied with
`_tabular.apply_preprocessing`; the model output carries a copy of those transforms so that
`_tabular.LoadedModel` can score raw rows anywhere downstream.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from _metrics import split_headlines
from _tabular import (
    MODEL_META_FILE,
    MULTICLASS,
    PREPROCESSING_FILE,
    StepInputError,
    apply_preprocessing,
    class_names,
    container_hyperparameters,
    encode_labels,
    env_str,
    load_preprocessing,
    load_training_split,
    save_json,
    training_problem_type,
)

CONTAINER_INPUTS = {
    "input_path": "/opt/ml/input/data/input_path",
    "preprocessing_artifacts": "/opt/ml/input/data/preprocessing_artifacts",
}
CONTAINER_OUTPUTS = {
    "model_output": "/opt/ml/model",
    "training_metrics": "/opt/ml/output/data",
}
ENV_VARS = ["LABEL_FIELD", "PROBLEM_TYPE"]

MODEL_FILE = "model.json"
DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "num_round": 200,
    "max_depth": 6,
    "eta": 0.1,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "min_child_weight": 1.0,
    "early_stopping_rounds": 20,
    "eval_metric": None,  # the problem type's (DEFAULT_EVAL_METRICS) when unset
    "seed": 0,
    "nthread": 1,
    "objective": None,  # the problem type's first objective (OBJECTIVES) when unset
}
# the lowest value each integer hyperparameter may take
INT_BOUNDS = {
    "num_round": 1,
    "max_depth": 1,
    "early_stopping_rounds": 0,  # 0 turns early stopping off
    "seed": 0,
    "nthread": 1,
}
FRACTIONS = ("subsample", "colsample_bytree")
# objectives whose output the downstream steps read: a probability, per-class probabilities, a value
OBJECTIVES = {
    "binary": ("binary:logistic",),
    "multiclass": ("multi:softprob",),
    "regression": ("reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror"),
}
DEFAULT_EVAL_METRICS = {"binary": "logloss", "multiclass": "mlogloss", "regression": "rmse"}


# ---------------------------------------------------------------- hyperparameters


def resolve_hyperparameters(
    given: dict[str, Any] | None, problem_type: str = "binary"
) -> dict[str, Any]:
    """Fill defaults and check types, so a typo or a bad value fails before any training."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(DEFAULT_HYPERPARAMETERS))
    if unknown:
        raise StepInputError(
            f"unknown XGBoostTraining hyperparameters {unknown}; known ones are "
            f"{sorted(DEFAULT_HYPERPARAMETERS)}"
        )
    hp = {**DEFAULT_HYPERPARAMETERS, **given}
    resolved: dict[str, Any] = {
        name: _integer(name, hp[name], low) for name, low in INT_BOUNDS.items()
    }
    resolved["eta"] = _number("eta", hp["eta"], 0.0, 1.0, exclusive_low=True)
    resolved["min_child_weight"] = _number("min_child_weight", hp["min_child_weight"], 0.0, None)
    for name in FRACTIONS:
        resolved[name] = _number(name, hp[name], 0.0, 1.0, exclusive_low=True)
    metric = hp["eval_metric"]
    resolved["eval_metric"] = _eval_metric(
        DEFAULT_EVAL_METRICS[problem_type] if metric is None else metric
    )
    allowed = OBJECTIVES[problem_type]
    objective = allowed[0] if hp["objective"] is None else hp["objective"]
    if objective not in allowed:
        raise StepInputError(
            f"hyperparameter objective={objective!r} does not fit a {problem_type} label: "
            f"downstream steps read the output of {' or '.join(allowed)}; use one of them, or "
            "unset objective"
        )
    resolved["objective"] = objective
    return {name: resolved[name] for name in DEFAULT_HYPERPARAMETERS}


def _integer(name: str, value: Any, minimum: int) -> int:
    whole = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and float(value).is_integer()
    )
    if not whole or int(value) < minimum:
        raise StepInputError(f"hyperparameter {name}={value!r} must be an integer >= {minimum}")
    return int(value)


def _number(
    name: str, value: Any, low: float, high: float | None, exclusive_low: bool = False
) -> float:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    in_range = numeric and (value > low if exclusive_low else value >= low)
    in_range = in_range and (high is None or value <= high)
    if not in_range:
        bounds = f"{'>' if exclusive_low else '>='} {low}" + (
            f" and <= {high}" if high is not None else ""
        )
        raise StepInputError(f"hyperparameter {name}={value!r} must be a number {bounds}")
    return float(value)


def _eval_metric(value: Any) -> str | list[str]:
    """XGBoost stops early on the last metric listed, as its own API does."""
    is_list = isinstance(value, list) and value and all(isinstance(v, str) for v in value)
    if not (isinstance(value, str) and value) and not is_list:
        raise StepInputError(
            f"hyperparameter eval_metric={value!r} must be a metric name such as 'auc' or a list of them"
        )
    return value


def booster_params(hp: dict[str, Any], n_classes: int = 0) -> dict[str, Any]:
    """The hyperparameters xgb.train takes in `params` (the rest steer the training loop)."""
    loop_only = {"num_round", "early_stopping_rounds"}
    params = {k: v for k, v in hp.items() if k not in loop_only}
    if hp["objective"].startswith("multi:"):
        params["num_class"] = n_classes
    return {**params, "verbosity": 0}


# ---------------------------------------------------------------- data


# ---------------------------------------------------------------- training


def train_booster(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    hp: dict[str, Any],
    n_classes: int = 0,
) -> tuple[Any, int, dict[str, dict[str, list[float]]]]:
    """Train with early stopping on val; return the booster, its best iteration and the history."""
    import xgboost as xgb

    dtrain = xgb.DMatrix(X_train, label=y_train, nthread=hp["nthread"])
    dval = xgb.DMatrix(X_val, label=y_val, nthread=hp["nthread"])
    history: dict[str, dict[str, list[float]]] = {}
    booster = xgb.train(
        booster_params(hp, n_classes),
        dtrain,
        num_boost_round=hp["num_round"],
        evals=[(dtrain, "train"), (dval, "val")],
        early_stopping_rounds=hp["early_stopping_rounds"] or None,
        evals_result=history,
        verbose_eval=False,
    )
    stopped_early = hp["early_stopping_rounds"] > 0
    best_iteration = int(booster.best_iteration) if stopped_early else hp["num_round"] - 1
    return booster, best_iteration, history


def predict(booster: Any, X: np.ndarray, best_iteration: int) -> np.ndarray:
    import xgboost as xgb

    return booster.predict(xgb.DMatrix(X), iteration_range=(0, best_iteration + 1)).astype(
        np.float64
    )


def headline_metrics(
    best_iteration: int,
    y_train: np.ndarray,
    p_train: np.ndarray,
    y_val: np.ndarray,
    p_val: np.ndarray,
    problem_type: str = "binary",
    classes: list[str] | None = None,
) -> dict[str, float]:
    """train_<m> and val_<m> for the problem type's headline metrics (AUC and log loss for a
    binary label; accuracy, macro AUC and log loss for multiclass; RMSE, MAE, R^2 for regression)."""
    metrics: dict[str, float] = {"best_iteration": best_iteration, "n_trees": best_iteration + 1}
    splits = {"train": (y_train, p_train), "val": (y_val, p_val)}
    metrics.update(split_headlines(problem_type, splits, classes or []))
    metrics["n_train"] = len(y_train)
    metrics["n_val"] = len(y_val)
    return metrics


# ---------------------------------------------------------------- outputs


def write_model_output(
    model_dir: Path,
    booster: Any,
    best_iteration: int,
    preprocessing_dir: Path,
    hp: dict[str, Any],
    features: list[str],
    label_field: str,
    training_record: dict[str, Any],
) -> None:
    import xgboost as xgb

    model_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(model_dir / MODEL_FILE))
    meta = {
        "framework": "xgboost",
        "model_file": MODEL_FILE,
        "features": features,
        "label_field": label_field,
        "best_iteration": best_iteration,
        "problem_type": training_record.get("problem_type", "binary"),
        "xgboost_version": xgb.__version__,
    }
    save_json(meta, model_dir / MODEL_META_FILE)
    shutil.copyfile(preprocessing_dir / PREPROCESSING_FILE, model_dir / PREPROCESSING_FILE)
    save_json(hp, model_dir / "hyperparameters.json")
    save_json(training_record, model_dir / "training_metrics.json")


# ---------------------------------------------------------------- entry points


def main(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    preprocessing_dir = Path(input_paths["preprocessing_artifacts"])
    preprocessing = load_preprocessing(preprocessing_dir)
    problem_type = training_problem_type(environ_vars, preprocessing)
    hp = resolve_hyperparameters(job_args.get("hyperparameters"), problem_type)
    label_field = (
        env_str(environ_vars, "LABEL_FIELD") or preprocessing.get("label_field") or "label"
    )
    classes = class_names(preprocessing)
    train = load_training_split(input_paths["input_path"], "train", label_field)
    val = load_training_split(input_paths["input_path"], "val", label_field)

    X_train = apply_preprocessing(train, preprocessing)
    X_val = apply_preprocessing(val, preprocessing)
    split_dir = Path(input_paths["input_path"])
    y_train = encode_labels(train[label_field], preprocessing, split_dir / "train")
    y_val = encode_labels(val[label_field], preprocessing, split_dir / "val")

    n_classes = len(classes) if problem_type == MULTICLASS else 0
    booster, best_iteration, history = train_booster(X_train, y_train, X_val, y_val, hp, n_classes)
    p_train = predict(booster, X_train, best_iteration)
    p_val = predict(booster, X_val, best_iteration)
    metrics = headline_metrics(
        best_iteration, y_train, p_train, y_val, p_val, problem_type, classes
    )

    write_model_output(
        Path(output_paths["model_output"]),
        booster,
        best_iteration,
        preprocessing_dir,
        hp,
        list(preprocessing["features"]),
        label_field,
        {**metrics, "problem_type": problem_type, "history": history},
    )
    save_json(metrics, Path(output_paths["training_metrics"]) / "metrics.json")
    return metrics


if __name__ == "__main__":
    for directory in CONTAINER_OUTPUTS.values():
        os.makedirs(directory, exist_ok=True)
    result_metrics = main(
        input_paths=dict(CONTAINER_INPUTS),
        output_paths=dict(CONTAINER_OUTPUTS),
        environ_vars={k: os.environ[k] for k in ENV_VARS if k in os.environ},
        job_args={"hyperparameters": container_hyperparameters()},
    )
    print(json.dumps(result_metrics, indent=2))
