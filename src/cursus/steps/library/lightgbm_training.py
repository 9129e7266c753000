"""LightGBMTraining: a LightGBM model with early stopping on the val split, for the problem type
preprocessing recorded: binary or multiclass classifier, or regressor.

The features are the ones TabularPreprocessing fitted on the train split, applied with
`_tabular.apply_preprocessing`; the model output carries a copy of those transforms, the booster
as LightGBM's text format (model.txt), and the lightgbm wheel this job ran with where it had one,
so that an endpoint on the XGBoost image can load it offline (`_model_lightgbm`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from _metrics import split_headlines
from _model_lightgbm import MODEL_FILE, copy_wheel_into, import_lightgbm
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

DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "num_boost_round": 200,
    "learning_rate": 0.1,
    "num_leaves": 31,
    "max_depth": -1,
    "min_data_in_leaf": 20,
    "feature_fraction": 1.0,
    "bagging_fraction": 1.0,
    "bagging_freq": 0,
    "lambda_l1": 0.0,
    "lambda_l2": 0.0,
    "early_stopping_rounds": 20,
    "objective": None,  # the problem type's first objective (OBJECTIVES) when unset
    "metric": None,  # the problem type's (DEFAULT_METRICS) when unset
    "seed": 0,
    "num_threads": 1,
}
INT_BOUNDS = {
    "num_boost_round": 1,
    "num_leaves": 2,
    "max_depth": -1,  # -1: no limit
    "min_data_in_leaf": 1,
    "bagging_freq": 0,
    "early_stopping_rounds": 0,  # 0 turns early stopping off
    "seed": 0,
    "num_threads": 1,
}
FRACTIONS = ("feature_fraction", "bagging_fraction")
OBJECTIVES = {
    "binary": ("binary",),
    "multiclass": ("multiclass",),
    "regression": ("regression", "regression_l1", "huber"),
}
DEFAULT_METRICS = {"binary": "binary_logloss", "multiclass": "multi_logloss", "regression": "l2"}


def resolve_hyperparameters(
    given: dict[str, Any] | None, problem_type: str = "binary"
) -> dict[str, Any]:
    """Fill defaults and check types, so a typo or a bad value fails before any training."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(DEFAULT_HYPERPARAMETERS))
    if unknown:
        raise StepInputError(
            f"unknown LightGBMTraining hyperparameters {unknown}; known ones are "
            f"{sorted(DEFAULT_HYPERPARAMETERS)}"
        )
    hp = {**DEFAULT_HYPERPARAMETERS, **given}
    resolved: dict[str, Any] = {}
    for name, low in INT_BOUNDS.items():
        value = hp[name]
        whole = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not whole or not float(value).is_integer() or int(value) < low:
            raise StepInputError(f"hyperparameter {name}={value!r} must be an integer >= {low}")
        resolved[name] = int(value)
    for name in ("learning_rate", *FRACTIONS):
        value = hp[name]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 1:
            raise StepInputError(f"hyperparameter {name}={value!r} must be a number > 0 and <= 1")
        resolved[name] = float(value)
    for name in ("lambda_l1", "lambda_l2"):
        value = hp[name]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise StepInputError(f"hyperparameter {name}={value!r} must be a number >= 0")
        resolved[name] = float(value)
    allowed = OBJECTIVES[problem_type]
    objective = allowed[0] if hp["objective"] is None else hp["objective"]
    if objective not in allowed:
        raise StepInputError(
            f"hyperparameter objective={objective!r} does not fit a {problem_type} label; use "
            f"one of {list(allowed)}, or unset objective"
        )
    resolved["objective"] = objective
    metric = DEFAULT_METRICS[problem_type] if hp["metric"] is None else hp["metric"]
    if not isinstance(metric, str) or not metric:
        raise StepInputError(f"hyperparameter metric={metric!r} must be a LightGBM metric name")
    resolved["metric"] = metric
    return {name: resolved[name] for name in DEFAULT_HYPERPARAMETERS}


def booster_params(hp: dict[str, Any], n_classes: int) -> dict[str, Any]:
    loop_only = {"num_boost_round", "early_stopping_rounds"}
    params = {k: v for k, v in hp.items() if k not in loop_only}
    if hp["objective"] == "multiclass":
        params["num_class"] = n_classes
    # one thread is deterministic already; `deterministic` (same model whatever num_threads)
    # costs ~30% of training time, so it is asked for only where threads could change results
    deterministic = hp["num_threads"] > 1
    return {**params, "verbosity": -1, "deterministic": deterministic, "force_row_wise": True}


def train_booster(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    hp: dict[str, Any],
    n_classes: int = 0,
) -> tuple[Any, int, dict[str, dict[str, list[float]]]]:
    """Train with early stopping on val; return the booster, its best iteration (0-based) and
    the metric history."""
    lgb = import_lightgbm()
    train_set = lgb.Dataset(X_train, label=y_train, free_raw_data=False)
    val_set = lgb.Dataset(X_val, label=y_val, reference=train_set, free_raw_data=False)
    history: dict[str, dict[str, list[float]]] = {}
    callbacks = [lgb.record_evaluation(history)]
    if hp["early_stopping_rounds"]:
        callbacks.append(lgb.early_stopping(hp["early_stopping_rounds"], verbose=False))
    booster = lgb.train(
        booster_params(hp, n_classes),
        train_set,
        num_boost_round=hp["num_boost_round"],
        valid_sets=[train_set, val_set],
        valid_names=["train", "val"],
        callbacks=callbacks,
    )
    best = booster.best_iteration or booster.current_iteration()
    return booster, int(best) - 1, history


def predict(booster: Any, X: np.ndarray, best_iteration: int) -> np.ndarray:
    return np.asarray(booster.predict(X, num_iteration=best_iteration + 1), dtype=np.float64)


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
    lgb = import_lightgbm()
    model_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(model_dir / MODEL_FILE), num_iteration=best_iteration + 1)
    meta = {
        "framework": "lightgbm",
        "model_file": MODEL_FILE,
        "features": features,
        "label_field": label_field,
        "best_iteration": best_iteration,
        "problem_type": training_record["problem_type"],
        "lightgbm_version": lgb.__version__,
    }
    save_json(meta, model_dir / MODEL_META_FILE)
    shutil.copyfile(preprocessing_dir / PREPROCESSING_FILE, model_dir / PREPROCESSING_FILE)
    save_json(hp, model_dir / "hyperparameters.json")
    save_json(training_record, model_dir / "training_metrics.json")
    copy_wheel_into(model_dir)


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
    data_dir = Path(input_paths["input_path"])
    train = load_training_split(data_dir, "train", label_field)
    val = load_training_split(data_dir, "val", label_field)
    X_train = apply_preprocessing(train, preprocessing)
    X_val = apply_preprocessing(val, preprocessing)
    y_train = encode_labels(train[label_field], preprocessing, data_dir / "train")
    y_val = encode_labels(val[label_field], preprocessing, data_dir / "val")

    n_classes = len(classes) if problem_type == MULTICLASS else 0
    booster, best_iteration, history = train_booster(X_train, y_train, X_val, y_val, hp, n_classes)
    metrics: dict[str, Any] = {"best_iteration": best_iteration, "n_trees": best_iteration + 1}
    splits = {
        "train": (y_train, predict(booster, X_train, best_iteration)),
        "val": (y_val, predict(booster, X_val, best_iteration)),
    }
    metrics.update(split_headlines(problem_type, splits, classes))
    metrics.update(n_train=len(y_train), n_val=len(y_val))

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
