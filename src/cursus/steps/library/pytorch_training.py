"""PyTorchTraining: a tabular feed-forward network (CPU) with early stopping on the val split, for
the problem type preprocessing recorded: a binary classifier (one logit, BCE), a multiclass one (a
logit per class, cross-entropy) or a regressor (one output, MSE on the standardised target).

The model output has the same layout as XGBoostTraining's, so evaluation, packaging and serving
load either through `_tabular.LoadedModel`. Standardisation statistics live in model_meta.json
rather than in the network, because LoadedModel applies them before calling the network.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _model_pytorch
import _tabular
import numpy as np
from _metrics import split_headlines

CONTAINER_INPUTS = {
    "input_path": "/opt/ml/input/data/input_path",
    "preprocessing_artifacts": "/opt/ml/input/data/preprocessing_artifacts",
}
CONTAINER_OUTPUTS = {
    "model_output": "/opt/ml/model",
    "training_metrics": "/opt/ml/output/data",
}
ENV_VARS = ["LABEL_FIELD", "PROBLEM_TYPE"]

MODEL_FILE = "model.pt"
DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "hidden_dims": [64, 32],
    "dropout": 0.1,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "batch_size": 256,
    "epochs": 50,
    "early_stopping_patience": 5,
    "seed": 0,
}


# ---------------------------------------------------------------- hyperparameters


def resolve_hyperparameters(given: dict[str, Any] | None) -> dict[str, Any]:
    """Fill defaults and check types, so a typo or a bad value fails before any training."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(DEFAULT_HYPERPARAMETERS))
    if unknown:
        raise _tabular.StepInputError(
            f"unknown PyTorchTraining hyperparameters {unknown}; "
            f"known ones are {sorted(DEFAULT_HYPERPARAMETERS)}"
        )
    merged = {**DEFAULT_HYPERPARAMETERS, **given}
    return {
        "hidden_dims": _int_list("hidden_dims", merged["hidden_dims"]),
        "dropout": _number("dropout", merged["dropout"], 0.0, upper=1.0),
        "lr": _number("lr", merged["lr"], 0.0, strict=True),
        "weight_decay": _number("weight_decay", merged["weight_decay"], 0.0),
        "batch_size": _integer("batch_size", merged["batch_size"], 1),
        "epochs": _integer("epochs", merged["epochs"], 1),
        "early_stopping_patience": _integer(
            "early_stopping_patience", merged["early_stopping_patience"], 1
        ),
        "seed": _integer("seed", merged["seed"], 0),
    }


def _integer(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON or a config may write 50 as 50.0
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _tabular.StepInputError(
            f"hyperparameter {name}={value!r} must be an integer >= {minimum}"
        )
    return value


def _number(
    name: str, value: Any, lower: float, upper: float | None = None, strict: bool = False
) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        value = float(value)
        ok = (value > lower if strict else value >= lower) and (upper is None or value < upper)
    if not ok:
        bound = f"{'>' if strict else '>='} {lower}" + (f" and < {upper}" if upper else "")
        raise _tabular.StepInputError(f"hyperparameter {name}={value!r} must be a number {bound}")
    return value


def _int_list(name: str, value: Any) -> list[int]:
    if not isinstance(value, (list, tuple)) or not value:
        raise _tabular.StepInputError(
            f"hyperparameter {name}={value!r} must be a non-empty list of layer widths, e.g. [64, 32]"
        )
    return [_integer(f"{name}[{i}]", v, 1) for i, v in enumerate(value)]


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class Task:
    """What the network learns: its problem type, outputs and the target's standardisation."""

    problem_type: str = "binary"
    n_outputs: int = 1
    target_mean: float = 0.0  # regression: the network learns (y - mean) / scale
    target_scale: float = 1.0

    @classmethod
    def of(cls, problem_type: str, n_classes: int, y_train: np.ndarray) -> Task:
        if problem_type == "multiclass":
            return cls(problem_type, n_classes)
        if problem_type == "regression":
            std = float(np.std(y_train))
            return cls(problem_type, 1, float(np.mean(y_train)), std if std > 0 else 1.0)
        return cls(problem_type)

    def loss(self) -> Any:
        import torch

        if self.problem_type == "multiclass":
            return torch.nn.CrossEntropyLoss()
        if self.problem_type == "regression":
            return torch.nn.MSELoss()
        return torch.nn.BCEWithLogitsLoss()

    def targets(self, y: np.ndarray) -> Any:
        import torch

        if self.problem_type == "multiclass":
            return torch.from_numpy(y.astype(np.int64))
        if self.problem_type == "regression":
            return torch.from_numpy(((y - self.target_mean) / self.target_scale).astype(np.float32))
        return torch.from_numpy(y.astype(np.float32))

    def shape(self, out: Any) -> Any:
        """The network's output as the loss takes it: (n, K) logits, else (n,)."""
        return out if self.problem_type == "multiclass" else out.squeeze(-1)

    @property
    def val_key(self) -> str:
        return "val_mse" if self.problem_type == "regression" else "val_log_loss"


@dataclass(frozen=True)
class Standardiser:
    """Per-feature mean and scale, in float32 exactly as LoadedModel applies them."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardiser:
        mean = X.astype(np.float64).mean(axis=0)
        std = X.astype(np.float64).std(axis=0)
        # a constant column carries no information; scale 1 keeps it finite (it becomes 0)
        scale = np.where(std > 0, std, 1.0)
        return cls(mean.astype(np.float32), scale.astype(np.float32))

    def transform(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.scale).astype(np.float32)


# ---------------------------------------------------------------- training


@dataclass
class TrainingResult:
    """The network holding its best-epoch weights, and how training went."""

    net: Any
    best_epoch: int = 0
    epochs_run: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def train_network(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    hp: dict[str, Any],
    task: Task | None = None,
) -> TrainingResult:
    """Adam on the task's loss (BCE-with-logits, cross-entropy or MSE); stop once the val loss
    has not improved for `patience` epochs and keep the weights of the best epoch, so the saved
    model is the one validation preferred."""
    import torch

    task = task or Task()
    torch.manual_seed(hp["seed"])  # weight init and dropout masks
    shuffler = torch.Generator().manual_seed(hp["seed"])  # batch order, independent of dropout
    net = _model_pytorch.build_mlp(
        X_train.shape[1], hp["hidden_dims"], hp["dropout"], task.n_outputs
    )
    optimiser = torch.optim.Adam(net.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    loss_fn = task.loss()
    xt, yt = torch.from_numpy(X_train), task.targets(y_train)
    xv, yv = torch.from_numpy(X_val), task.targets(y_val)

    result = TrainingResult(net)
    best_state, best_loss, stale = _snapshot(net), float("inf"), 0
    for epoch in range(1, hp["epochs"] + 1):
        train_loss = _run_epoch(net, optimiser, loss_fn, xt, yt, hp["batch_size"], shuffler, task)
        val_loss = _evaluate_loss(net, loss_fn, xv, yv, task)
        result.history.append({"epoch": epoch, "train_loss": train_loss, task.val_key: val_loss})
        result.epochs_run = epoch
        if val_loss < best_loss:
            best_state, best_loss, stale = _snapshot(net), val_loss, 0
            result.best_epoch = epoch
        else:
            stale += 1
            if stale >= hp["early_stopping_patience"]:
                break
    net.load_state_dict(best_state)
    net.eval()
    return result


def _run_epoch(
    net: Any,
    optimiser: Any,
    loss_fn: Any,
    x: Any,
    y: Any,
    batch_size: int,
    shuffler: Any,
    task: Task,
) -> float:
    import torch

    net.train()
    order = torch.randperm(len(x), generator=shuffler)
    total = 0.0
    for start in range(0, len(x), batch_size):
        idx = order[start : start + batch_size]
        optimiser.zero_grad()
        loss = loss_fn(task.shape(net(x[idx])), y[idx])
        loss.backward()
        optimiser.step()
        total += loss.item() * len(idx)
    return total / len(x)


def _evaluate_loss(net: Any, loss_fn: Any, x: Any, y: Any, task: Task) -> float:
    import torch

    net.eval()
    with torch.no_grad():
        return float(loss_fn(task.shape(net(x)), y))


def _snapshot(net: Any) -> dict[str, Any]:
    return {name: tensor.detach().clone() for name, tensor in net.state_dict().items()}


def predict(net: Any, X: np.ndarray, task: Task | None = None) -> np.ndarray:
    """Predictions from standardised features, the same computation LoadedModel performs."""
    import torch

    task = task or Task()
    with torch.no_grad():
        return _model_pytorch.outputs_to_predictions(
            net(torch.from_numpy(X)), task.problem_type, (task.target_mean, task.target_scale)
        )


# ---------------------------------------------------------------- outputs


def write_model_output(
    model_dir: Path,
    result: TrainingResult,
    standardiser: Standardiser,
    preprocessing_dir: Path,
    hp: dict[str, Any],
    features: list[str],
    label_field: str,
    metrics: dict[str, float],
    task: Task | None = None,
) -> None:
    import torch

    task = task or Task()

    model_dir.mkdir(parents=True, exist_ok=True)
    torch.save(result.net.state_dict(), model_dir / MODEL_FILE)
    meta = {
        "framework": "pytorch",
        "model_file": MODEL_FILE,
        "features": features,
        "label_field": label_field,
        "hidden_dims": hp["hidden_dims"],
        "dropout": hp["dropout"],
        "feature_mean": [float(v) for v in standardiser.mean],
        "feature_scale": [float(v) for v in standardiser.scale],
        "best_epoch": result.best_epoch,
        "problem_type": task.problem_type,
        "n_outputs": task.n_outputs,
        "target_mean": task.target_mean,
        "target_scale": task.target_scale,
    }
    _tabular.save_json(meta, model_dir / _tabular.MODEL_META_FILE)
    shutil.copyfile(
        preprocessing_dir / _tabular.PREPROCESSING_FILE, model_dir / _tabular.PREPROCESSING_FILE
    )
    _tabular.save_json(hp, model_dir / "hyperparameters.json")
    _tabular.save_json(
        {**_json_safe(metrics), "history": result.history}, model_dir / "training_metrics.json"
    )


def headline_metrics(
    result: TrainingResult,
    y_train: np.ndarray,
    p_train: np.ndarray,
    y_val: np.ndarray,
    p_val: np.ndarray,
    problem_type: str = "binary",
    classes: list[str] | None = None,
) -> dict[str, float]:
    """train_<m> and val_<m> of the problem type's headline metrics (AUC and log loss for a
    binary label)."""
    metrics: dict[str, float] = {"best_epoch": result.best_epoch, "epochs_run": result.epochs_run}
    splits = {"train": (y_train, p_train), "val": (y_val, p_val)}
    return {**metrics, **split_headlines(problem_type, splits, classes or [])}


# ---------------------------------------------------------------- entry points


def main(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    hp = resolve_hyperparameters(job_args.get("hyperparameters"))
    preprocessing_dir = Path(input_paths["preprocessing_artifacts"])
    preprocessing = _tabular.load_preprocessing(preprocessing_dir)
    problem_type = _tabular.training_problem_type(environ_vars, preprocessing)
    classes = _tabular.class_names(preprocessing)
    label_field = _tabular.env_str(
        environ_vars, "LABEL_FIELD", preprocessing.get("label_field") or "label"
    )
    train = _tabular.load_training_split(input_paths["input_path"], "train", label_field)
    val = _tabular.load_training_split(input_paths["input_path"], "val", label_field)

    raw_train = _tabular.apply_preprocessing(train, preprocessing)
    standardiser = Standardiser.fit(raw_train)
    X_train = standardiser.transform(raw_train)
    X_val = standardiser.transform(_tabular.apply_preprocessing(val, preprocessing))
    data_dir = Path(input_paths["input_path"])
    y_train = _tabular.encode_labels(train[label_field], preprocessing, data_dir / "train")
    y_val = _tabular.encode_labels(val[label_field], preprocessing, data_dir / "val")

    task = Task.of(problem_type, len(classes), y_train)
    result = train_network(X_train, y_train, X_val, y_val, hp, task)
    p_train, p_val = predict(result.net, X_train, task), predict(result.net, X_val, task)
    metrics = headline_metrics(result, y_train, p_train, y_val, p_val, problem_type, classes)

    write_model_output(
        Path(output_paths["model_output"]),
        result,
        standardiser,
        preprocessing_dir,
        hp,
        list(preprocessing["features"]),
        label_field,
        metrics,
        task,
    )
    _tabular.save_json(_json_safe(metrics), Path(output_paths["training_metrics"]) / "metrics.json")
    return metrics


def _json_safe(metrics: dict[str, float]) -> dict[str, float | None]:
    """Strict JSON has no NaN, and an AUC is NaN when a split holds one class."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in metrics.items()}


if __name__ == "__main__":
    for directory in CONTAINER_OUTPUTS.values():
        os.makedirs(directory, exist_ok=True)
    result_metrics = main(
        input_paths=dict(CONTAINER_INPUTS),
        output_paths=dict(CONTAINER_OUTPUTS),
        environ_vars={k: os.environ[k] for k in ENV_VARS if k in os.environ},
        job_args={"hyperparameters": _tabular.container_hyperparameters()},
    )
    print(json.dumps(result_metrics, indent=2))
