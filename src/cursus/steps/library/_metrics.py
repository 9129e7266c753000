"""Metrics and plots of each problem type, shared by the evaluation, training and calibration
steps: binary (ROC-AUC, PR-AUC, ...), multiclass (per-class and macro metrics, a confusion
matrix) and regression (RMSE, MAE, R^2).

Like `_tabular` it travels with the scripts and imports nothing from Cursus; it runs on every
image's scikit-learn (0.24 on the XGBoost image), so it keeps to that version's API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from _tabular import (
    BINARY,
    MULTICLASS,
    REGRESSION,
    binary_metrics,
    load_pyplot,
    plot_roc_pr_curves,
)

EPS = 1e-7


def problem_metrics(
    problem_type: str, y: np.ndarray, pred: np.ndarray, classes: list[str]
) -> dict[str, Any]:
    if problem_type == MULTICLASS:
        return multiclass_metrics(y, pred, classes)
    if problem_type == REGRESSION:
        return regression_metrics(y, pred)
    return binary_metrics(y, pred)


def multiclass_metrics(y: np.ndarray, probs: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Accuracy, log loss, macro and weighted F1 and one-vs-rest AUC, per-class precision,
    recall, F1, support and AUC, and the confusion matrix (rows: true class, columns: predicted).

    An AUC is undefined (NaN) for a class the split does not hold; the macro AUC averages the
    classes that are there.
    """
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        log_loss,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    y = np.asarray(y).astype(int)
    n_classes = probs.shape[1]
    labels = list(range(n_classes))
    probs = np.clip(np.asarray(probs, dtype=np.float64), EPS, 1.0)
    probs = probs / probs.sum(axis=1, keepdims=True)
    predicted = probs.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        y, predicted, labels=labels, zero_division=0
    )
    aucs = []
    for k in labels:
        positive = y == k
        both = positive.any() and (~positive).any()
        aucs.append(float(roc_auc_score(positive, probs[:, k])) if both else float("nan"))
    present = [a for a in aucs if not np.isnan(a)]
    weights = np.array([support[k] for k in labels if not np.isnan(aucs[k])], dtype=np.float64)
    per_class = {
        str(classes[k] if k < len(classes) else k): {
            "index": k,
            "precision": float(precision[k]),
            "recall": float(recall[k]),
            "f1": float(f1[k]),
            "support": int(support[k]),
            "roc_auc": aucs[k],
        }
        for k in labels
    }
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "log_loss": float(log_loss(y, probs, labels=labels)),
        "macro_f1": float(f1_score(y, predicted, labels=labels, average="macro", zero_division=0)),
        "weighted_f1": float(
            f1_score(y, predicted, labels=labels, average="weighted", zero_division=0)
        ),
        "macro_precision": float(np.mean(precision)),
        "macro_recall": float(np.mean(recall)),
        "macro_roc_auc": float(np.mean(present)) if present else float("nan"),
        "weighted_roc_auc": (
            float(np.average(present, weights=weights))
            if present and weights.sum()
            else float("nan")
        ),
        "n_samples": len(y),
        "n_classes": n_classes,
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y, predicted, labels=labels).tolist(),
    }


def regression_metrics(y: np.ndarray, prediction: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import explained_variance_score, mean_absolute_error, r2_score

    y = np.asarray(y, dtype=np.float64)
    prediction = np.asarray(prediction, dtype=np.float64)
    error = prediction - y
    nonzero = np.abs(y) > EPS
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(mean_absolute_error(y, prediction)),
        "r2": float(r2_score(y, prediction)) if len(y) > 1 else float("nan"),
        "explained_variance": (
            float(explained_variance_score(y, prediction)) if len(y) > 1 else float("nan")
        ),
        # undefined where the target is 0: averaged over the other rows
        "mape": float(np.mean(np.abs(error[nonzero] / y[nonzero])))
        if nonzero.any()
        else float("nan"),
        "mean_target": float(y.mean()),
        "n_samples": len(y),
    }


def headline(problem_type: str, metrics: dict[str, Any]) -> dict[str, float]:
    """The few numbers a training step reports per split."""
    keys = {
        BINARY: (("auc", "roc_auc"), ("log_loss", "log_loss")),
        MULTICLASS: (
            ("accuracy", "accuracy"),
            ("macro_auc", "macro_roc_auc"),
            ("log_loss", "log_loss"),
        ),
        REGRESSION: (("rmse", "rmse"), ("mae", "mae"), ("r2", "r2")),
    }[problem_type]
    return {name: float(metrics[key]) for name, key in keys}


def split_headlines(
    problem_type: str, splits: dict[str, tuple[np.ndarray, np.ndarray]], classes: list[str]
) -> dict[str, float]:
    """`<split>_<metric>` of the headline metrics for each split name -> (labels, predictions):
    what every training step reports for its train and val splits."""
    out: dict[str, float] = {}
    for split, (y, pred) in splits.items():
        values = headline(problem_type, problem_metrics(problem_type, y, pred, classes))
        out.update({f"{split}_{name}": value for name, value in values.items()})
    return out


# ---------------------------------------------------------------- plots


def plot_problem(
    problem_type: str, y: np.ndarray, pred: np.ndarray, classes: list[str], directory: str | Path
) -> bool:
    """The plots of a problem type into `directory`; False, with nothing written, when matplotlib
    is missing."""
    if problem_type == BINARY:
        return plot_roc_pr_curves(y, pred, directory)
    plt = load_pyplot()
    if plt is None:
        return False
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if problem_type == MULTICLASS:
        _plot_confusion(plt, y, pred, classes, directory / "confusion_matrix.png")
        _plot_one_vs_rest_roc(plt, y, pred, classes, directory / "roc_curve.png")
    else:
        _plot_regression(plt, y, pred, directory)
    return True


def _class_label(classes: list[str], k: int) -> str:
    return str(classes[k]) if k < len(classes) else str(k)


def _plot_confusion(
    plt: Any, y: np.ndarray, probs: np.ndarray, classes: list[str], path: Path
) -> None:
    from sklearn.metrics import confusion_matrix

    n = probs.shape[1]
    matrix = confusion_matrix(y, probs.argmax(axis=1), labels=list(range(n)))
    size = min(4 + 0.5 * n, 12)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    names = [_class_label(classes, k) for k in range(n)]
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_yticklabels(names)
    high = matrix.max() if matrix.size else 0
    for i in range(n):
        for j in range(n):
            color = "white" if matrix[i, j] > high / 2 else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=color, fontsize=8)
    ax.set(xlabel="predicted class", ylabel="true class", title="Confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_one_vs_rest_roc(
    plt: Any, y: np.ndarray, probs: np.ndarray, classes: list[str], path: Path
) -> None:
    from sklearn.metrics import auc, roc_curve

    fig, ax = plt.subplots(figsize=(6, 6))
    for k in range(probs.shape[1]):
        positive = y == k
        if not (positive.any() and (~positive).any()):
            continue
        fpr, tpr, _ = roc_curve(positive, probs[:, k])
        ax.plot(fpr, tpr, label=f"{_class_label(classes, k)} (AUC {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC, one vs rest")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_regression(plt: Any, y: np.ndarray, prediction: np.ndarray, directory: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(y, prediction, s=8, alpha=0.6)
    low = float(min(y.min(), prediction.min())) if len(y) else 0.0
    high = float(max(y.max(), prediction.max())) if len(y) else 1.0
    ax.plot([low, high], [low, high], linestyle="--", color="grey")
    ax.set(xlabel="actual", ylabel="predicted", title="Predicted against actual")
    fig.tight_layout()
    fig.savefig(directory / "predicted_vs_actual.png", dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.hist(prediction - y, bins=30)
    ax.set(xlabel="prediction - actual", ylabel="rows", title="Residuals")
    fig.tight_layout()
    fig.savefig(directory / "residuals.png", dpi=100)
    plt.close(fig)
