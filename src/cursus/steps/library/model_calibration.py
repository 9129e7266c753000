"""ModelCalibration: fit a calibrator on scored data and report how much it improves calibration.

The fitted calibrator is plain JSON (no pickle) in one of the three forms `_tabular.apply_calibration`
reads, so the serving code applies exactly the mapping fitted here: isotonic, Platt (sigmoid, also
named platt), a GAM (a logistic fit on a linear spline of the score's logit) or percentile.
Multiclass predictions (prob_0 .. prob_<K-1>) get one one-vs-rest calibrator per class,
renormalised, and are measured by the top-label ECE and the multiclass Brier score.

The calibrator that is saved is fitted on every row; the "after" metrics are measured out of
sample, by cross-fitting: the rows are split into CROSS_FIT_FOLDS stratified folds and each fold is
calibrated by a calibrator fitted on the others, so "after" says how the calibrator does on rows it
has not seen (a calibrator measured on its own rows looks perfect: isotonic reaches ECE 0). The
in-sample figures are reported beside them, marked so. A split too small to fold (fewer rows of a
class than folds) is measured in sample, and its metrics say so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _tabular import (
    CALIBRATION_FILE,
    EVALUATION_FILE,
    MATPLOTLIB_MISSING,
    MULTICLASS,
    PLOTS_SKIPPED,
    SQUARE_PLOT_MARGINS,
    StepInputError,
    apply_calibration,
    env_int,
    env_str,
    expected_calibration_error,
    load_pyplot,
    prob_columns,
    read_table,
    save_json,
    scores_from_predictions,
)

CONTAINER_INPUTS = {"evaluation_data": "/opt/ml/processing/input/eval_data"}
CONTAINER_OUTPUTS = {
    "calibration_output": "/opt/ml/processing/output/calibration",
    "metrics_output": "/opt/ml/processing/output/metrics",
    "calibrated_data": "/opt/ml/processing/output/calibrated_data",
}
ENV_VARS = ["LABEL_FIELD", "SCORE_FIELD", "CALIBRATION_METHOD", "N_BINS", "GAM_KNOTS", "MONOTONIC"]

PREDICTIONS_FILE = "predictions.parquet"
METRICS_FILE = "calibration_metrics.json"
PLOT_FILE = "reliability.png"
CALIBRATED_COLUMN = "calibrated_prob"
METHODS = ("isotonic", "sigmoid", "platt", "gam", "percentile")
CROSS_FIT_FOLDS = 5
GAM_KNOTS = 8  # interior knots of the GAM's spline, at quantiles of the score's logit
N_PERCENTILE_QUANTILES = 1001


# ---------------------------------------------------------------- input


def read_predictions(directory: str | Path) -> pd.DataFrame:
    """predictions.parquet when present (the evaluation steps' layout), else the folder's table."""
    path = Path(directory) / PREDICTIONS_FILE
    return pd.read_parquet(path) if path.is_file() else read_table(directory)


def labels_and_scores(
    df: pd.DataFrame, label_field: str, score_field: str
) -> tuple[np.ndarray, np.ndarray]:
    """The 0/1 labels and [0, 1] scores to fit on, rejecting what a binary calibrator cannot use."""
    for name, variable in ((label_field, "LABEL_FIELD"), (score_field, "SCORE_FIELD")):
        if name not in df.columns:
            raise StepInputError(
                f"{PREDICTIONS_FILE} has no column {name!r} (named by {variable}); "
                f"columns are {list(df.columns)}"
            )
    y = pd.to_numeric(df[label_field], errors="coerce").to_numpy(dtype=np.float64)
    p = pd.to_numeric(df[score_field], errors="coerce").to_numpy(dtype=np.float64)
    if not np.isin(y, (0.0, 1.0)).all():
        raise StepInputError(
            f"label column {label_field!r} must hold only 0 and 1 (binary calibration only)"
        )
    if len(np.unique(y)) < 2:
        raise StepInputError(
            f"label column {label_field!r} holds a single class ({int(y[0]) if len(y) else 'no rows'}); "
            "calibration needs both positives and negatives"
        )
    if not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
        raise StepInputError(
            f"score column {score_field!r} must hold probabilities in [0, 1] without missing values"
        )
    return y, p


# ---------------------------------------------------------------- calibrators


def fit_isotonic(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Isotonic regression; its thresholds interpolated linearly and clipped at the ends are
    exactly what `IsotonicRegression(out_of_bounds="clip").predict` computes."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(p, y)
    return {"method": "isotonic", "x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}


def fit_sigmoid(y: np.ndarray, p: np.ndarray, max_iter: int = 100) -> dict[str, Any]:
    """Platt scaling, p_cal = 1 / (1 + exp(a * p + b)), by Newton's method on the log loss.

    Uses Platt's smoothed targets (N+ + 1) / (N+ + 2) and 1 / (N- + 2) instead of 1 and 0, which
    keeps a and b finite when the score separates the classes perfectly.
    """
    n_pos, n_neg = float(y.sum()), float(len(y) - y.sum())
    target = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    design = np.column_stack([p, np.ones_like(p)])
    theta = np.array([0.0, np.log((n_neg + 1) / (n_pos + 1))])
    loss = _platt_loss(theta, design, target)
    for _ in range(max_iter):
        prob = _platt_prob(theta, design)
        gradient = design.T @ (target - prob)
        hessian = design.T @ (design * (prob * (1 - prob))[:, None]) + 1e-12 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        theta, new_loss = _backtrack(theta, step, loss, design, target)
        if loss - new_loss < 1e-12:
            break
        loss = new_loss
    return {"method": "sigmoid", "a": float(theta[0]), "b": float(theta[1])}


def _platt_prob(theta: np.ndarray, design: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(np.clip(design @ theta, -500, 500)))


def _platt_loss(theta: np.ndarray, design: np.ndarray, target: np.ndarray) -> float:
    # log(1 + exp(f)) written with logaddexp so large |f| neither overflows nor loses precision
    f = design @ theta
    return float(np.sum(target * np.logaddexp(0, f) + (1 - target) * np.logaddexp(0, -f)))


def _backtrack(
    theta: np.ndarray, step: np.ndarray, loss: float, design: np.ndarray, target: np.ndarray
) -> tuple[np.ndarray, float]:
    """Halve the Newton step until the loss does not increase, so the solve cannot diverge."""
    scale = 1.0
    for _ in range(30):
        candidate = theta - scale * step
        candidate_loss = _platt_loss(candidate, design, target)
        if candidate_loss <= loss:
            return candidate, candidate_loss
        scale /= 2
    return theta, loss


def fit_percentile(p: np.ndarray, n_quantiles: int = N_PERCENTILE_QUANTILES) -> dict[str, Any]:
    """Map a score to the share of fitted scores at or below it (its empirical percentile).

    Quantiles of tied scores are merged so the interpolation grid strictly increases.
    """
    quantiles = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_quantiles)))
    levels = np.searchsorted(np.sort(p), quantiles, side="right") / len(p)
    return {
        "method": "percentile",
        "score_quantiles": quantiles.tolist(),
        "levels": levels.tolist(),
    }


def fit_gam(
    y: np.ndarray, p: np.ndarray, n_knots: int = GAM_KNOTS, monotonic: bool = False
) -> dict[str, Any]:
    """A one-variable logistic GAM: logit(p_cal) = a + b z + sum_k c_k max(z - t_k, 0), where z is
    the score's logit and the knots t_k sit at its quantiles; L2-regularised, so a few rows do not
    make it wiggle. `monotonic` keeps every segment's slope >= 0, so the calibrated scores keep
    the order of the raw ones. Applied by `_tabular.apply_calibration` with numpy alone."""
    z = logit(p)
    knots = np.unique(np.quantile(z, np.linspace(0, 1, n_knots + 2)[1:-1]))
    design = gam_design(z, knots)
    if monotonic:
        intercept, coefs = _monotone_logistic(design, y.astype(np.float64))
    else:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=1.0, max_iter=1000).fit(design, y.astype(int))
        intercept, coefs = float(model.intercept_[0]), model.coef_[0]
    return {
        "method": "gam",
        "knots": knots.tolist(),
        "intercept": float(intercept),
        "coefs": [float(c) for c in coefs],
        "monotonic": monotonic,
    }


def _monotone_logistic(design: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """The L2-regularised logistic fit of `gam_design` columns whose running sums of
    coefficients (each segment's slope) are >= 0: fitted in those slopes, bounded below by 0."""
    from scipy.optimize import minimize
    from scipy.special import expit

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        intercept, slopes = theta[0], theta[1:]
        coefs = np.diff(slopes, prepend=0.0)  # coefficient k = slope k - slope k-1
        margin = intercept + design @ coefs
        loss = float(np.sum(np.logaddexp(0.0, margin) - y * margin) + 0.5 * coefs @ coefs)
        residual = expit(margin) - y
        by_coef = design.T @ residual + coefs
        by_slope = by_coef - np.append(by_coef[1:], 0.0)
        return loss, np.concatenate([[residual.sum()], by_slope])

    start = np.concatenate([[0.0], np.ones(design.shape[1])])
    bounds = [(None, None)] + [(0.0, None)] * design.shape[1]
    fit = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B", bounds=bounds)
    return float(fit.x[0]), np.diff(fit.x[1:], prepend=0.0)


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def gam_design(z: np.ndarray, knots: np.ndarray) -> np.ndarray:
    return np.column_stack([z] + [np.maximum(z - k, 0.0) for k in knots])


def gam_options(environ_vars: dict[str, str]) -> dict[str, Any]:
    """GAM_KNOTS (interior knots, 1..100) and MONOTONIC (true/false) for method gam."""
    n_knots = env_int(environ_vars, "GAM_KNOTS", GAM_KNOTS)
    if not 1 <= n_knots <= 100:
        raise StepInputError(f"GAM_KNOTS={n_knots} must be a whole number from 1 to 100")
    monotonic = (env_str(environ_vars, "MONOTONIC", "false") or "false").strip().lower()
    if monotonic not in ("true", "false"):
        raise StepInputError(f"MONOTONIC={monotonic!r} must be true or false")
    return {"n_knots": n_knots, "monotonic": monotonic == "true"}


def fit_calibration(
    method: str, y: np.ndarray, p: np.ndarray, gam: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`gam`: fit_gam's options (n_knots, monotonic)."""
    if method == "isotonic":
        return fit_isotonic(y, p)
    if method in ("sigmoid", "platt"):
        return fit_sigmoid(y, p)
    if method == "gam":
        return fit_gam(y, p, **(gam or {}))
    if method == "percentile":
        return fit_percentile(p)
    raise StepInputError(
        f"CALIBRATION_METHOD={method!r} is not supported; use one of {list(METHODS)}"
    )


# ---------------------------------------------------------------- report


def brier_score(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2))


def fold_count(y: np.ndarray, folds: int = CROSS_FIT_FOLDS) -> int:
    """How many stratified folds the labels allow (each class needs a row in every fold); below
    2 the rows cannot be cross-fitted."""
    smallest = int(np.bincount(np.asarray(y, dtype=np.int64)).min()) if len(y) else 0
    return min(folds, smallest)


def cross_fitted(fit: Any, apply: Any, y: np.ndarray, scores: np.ndarray, folds: int) -> np.ndarray:
    """Out-of-fold calibrated scores: each fold calibrated by a calibrator fitted on the others."""
    from sklearn.model_selection import StratifiedKFold

    out = np.zeros_like(np.asarray(scores, dtype=np.float64))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    for train, held_out in splitter.split(np.zeros(len(y)), y):
        out[held_out] = apply(scores[held_out], fit(y[train], scores[train]))
    return out


def calibration_metrics(
    y: np.ndarray,
    raw: np.ndarray,
    calibrated: np.ndarray,
    method: str,
    n_bins: int,
    out_of_sample: np.ndarray | None = None,
    folds: int = 0,
) -> dict[str, Any]:
    """ECE and Brier before and after; "after" out of sample (cross-fitted) when `out_of_sample`
    is given, with the in-sample figures beside it."""
    metrics = {
        "method": method,
        "n_bins": n_bins,
        "n_samples": len(y),
        "positive_rate": float(y.mean()),
        "ece_before": expected_calibration_error(y, raw, n_bins),
        "brier_before": brier_score(y, raw),
        "ece_after_in_sample": expected_calibration_error(y, calibrated, n_bins),
        "brier_after_in_sample": brier_score(y, calibrated),
    }
    before = (metrics["ece_before"], metrics["brier_before"])
    return {**metrics, **_after(y, calibrated, out_of_sample, folds, n_bins, "binary", before)}


def _after(
    y: np.ndarray,
    in_sample: np.ndarray,
    out_of_sample: np.ndarray | None,
    folds: int,
    n_bins: int,
    kind: str,
    before: tuple[float, float],
) -> dict[str, Any]:
    """The "after" metrics (out of sample when cross-fitted) and, when the calibrator does worse
    than the raw scores there, a note saying so. `before`: ECE and Brier of the raw scores."""
    scored = in_sample if out_of_sample is None else out_of_sample
    if kind == "binary":
        ece, brier = expected_calibration_error(y, scored, n_bins), brier_score(y, scored)
    else:
        ece, brier = top_label_ece(y, scored, n_bins), multiclass_brier(y, scored)
    extra: dict[str, Any] = {}
    ece_before, brier_before = before
    if out_of_sample is not None and (ece > ece_before or brier > brier_before):
        extra["note"] = (
            f"out of sample the calibrator does worse than the raw scores on these {len(y)} rows "
            f"(ECE {ece:.4f} vs {ece_before:.4f}, Brier {brier:.4f} vs {brier_before:.4f}): "
            "calibrate on more rows, or use a smoother method (sigmoid, gam)"
        )
        print(f"note: {extra['note']}")
    return {
        **extra,
        "ece_after": ece,
        "brier_after": brier,
        "in_sample": out_of_sample is None,
        "evaluation": (
            f"cross-fitted, {folds} stratified folds"
            if out_of_sample is not None
            else "in sample: too few rows of a class to cross-fit"
        ),
    }


def reliability_curve(y: np.ndarray, p: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean predicted and observed positive rate in each non-empty equal-width bin (as in ECE)."""
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    filled = [b for b in range(n_bins) if (bins == b).any()]
    return (
        np.array([p[bins == b].mean() for b in filled]),
        np.array([y[bins == b].mean() for b in filled]),
    )


def plot_reliability(
    y: np.ndarray,
    raw: np.ndarray,
    calibrated: np.ndarray,
    n_bins: int,
    path: Path,
    observed_after: np.ndarray | None = None,
) -> bool:
    """Write the reliability diagram; False, with nothing written, when matplotlib is missing
    (the scikit-learn image this step runs on has none). `observed_after` is what the calibrated
    scores are measured against when it differs from `y` (a multiclass top label may change)."""
    plt = load_pyplot()
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    after = y if observed_after is None else observed_after
    for truth, scores, name in ((y, raw, "before"), (after, calibrated, "after")):
        predicted, observed = reliability_curve(truth, scores, n_bins)
        ece = expected_calibration_error(truth, scores, n_bins)
        ax.plot(predicted, observed, marker="o", label=f"{name} (ECE {ece:.3f})")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed positive rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    fig.subplots_adjust(**{**SQUARE_PLOT_MARGINS, "top": 0.96})  # no title
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


# ---------------------------------------------------------------- step


def main(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    label_field = env_str(environ_vars, "LABEL_FIELD")
    if label_field is None:
        raise StepInputError(
            "environment variable LABEL_FIELD is not set; it names the label column"
        )
    score_field = env_str(environ_vars, "SCORE_FIELD", "prob")
    method = (env_str(environ_vars, "CALIBRATION_METHOD", "isotonic") or "").strip().lower()
    n_bins = env_int(environ_vars, "N_BINS", 10)
    if n_bins < 1:
        raise StepInputError(f"N_BINS={n_bins} must be a positive integer")
    if method not in METHODS:
        raise StepInputError(
            f"CALIBRATION_METHOD={method!r} is not supported; use one of {list(METHODS)}"
        )
    gam = gam_options(environ_vars)

    df = read_predictions(input_paths["evaluation_data"])
    carry_evaluation(input_paths["evaluation_data"], output_paths["calibration_output"])
    if is_multiclass(df, score_field):
        return calibrate_multiclass(df, label_field, method, n_bins, output_paths, gam)
    y, raw = labels_and_scores(df, label_field, score_field)
    calibration = fit_calibration(method, y, raw, gam)
    calibrated = apply_calibration(raw, calibration)
    folds = fold_count(y.astype(np.int64))
    held_out = (
        cross_fitted(
            lambda yy, pp: fit_calibration(method, yy, pp, gam), apply_calibration, y, raw, folds
        )
        if folds >= 2
        else None
    )

    metrics_dir = Path(output_paths["metrics_output"])
    metrics_dir.mkdir(parents=True, exist_ok=True)
    metrics = calibration_metrics(y, raw, calibrated, method, n_bins, held_out, folds)
    shown = calibrated if held_out is None else held_out
    if not plot_reliability(y, raw, shown, n_bins, metrics_dir / PLOT_FILE):
        metrics[PLOTS_SKIPPED] = MATPLOTLIB_MISSING
    _write_outputs(df.assign(**{CALIBRATED_COLUMN: calibrated}), calibration, metrics, output_paths)
    return {
        k: float(metrics[k]) for k in ("ece_before", "ece_after", "brier_before", "brier_after")
    }


def carry_evaluation(evaluation_dir: str, calibration_dir: str) -> None:
    """The evaluation's metrics and the data they were measured on go on beside the
    calibrator, into the package (Registration records what the model scored)."""
    source = Path(evaluation_dir) / EVALUATION_FILE
    if source.is_file():
        Path(calibration_dir).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, Path(calibration_dir) / EVALUATION_FILE)


def _write_outputs(
    calibrated_df: pd.DataFrame,
    calibration: dict[str, Any],
    metrics: dict[str, Any],
    output_paths: dict[str, str],
) -> None:
    save_json(calibration, Path(output_paths["calibration_output"]) / CALIBRATION_FILE)
    metrics_dir = Path(output_paths["metrics_output"])
    save_json(metrics, metrics_dir / METRICS_FILE)
    # a copy beside the calibrator travels into the package, where Registration reads it
    save_json(metrics, Path(output_paths["calibration_output"]) / METRICS_FILE)
    out_dir = Path(output_paths["calibrated_data"])
    out_dir.mkdir(parents=True, exist_ok=True)
    calibrated_df.to_parquet(out_dir / PREDICTIONS_FILE, index=False)


# ---------------------------------------------------------------- multiclass


def is_multiclass(df: pd.DataFrame, score_field: str) -> bool:
    """Multiclass predictions carry prob_0 .. prob_<K-1> and no binary score column; a
    regression's carry only `prediction`, which no calibrator takes."""
    if score_field in df.columns:
        return False
    if "prob_0" in df.columns:
        return True
    if "prediction" in df.columns:
        raise StepInputError(
            f"{PREDICTIONS_FILE} holds a regression's predictions (a 'prediction' column, no "
            "probabilities); calibration applies to classifiers, so remove this step from a "
            "regression pipeline"
        )
    return False


def fit_multiclass(
    method: str, y: np.ndarray, raw: np.ndarray, gam: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One one-vs-rest calibrator per class; a class absent from `y` (or alone in it) keeps its
    scores as they are."""
    per_class = []
    for k in range(raw.shape[1]):
        target = (y == k).astype(np.float64)
        if target.min() == target.max():
            per_class.append({"method": "isotonic", "x": [0.0, 1.0], "y": [0.0, 1.0]})
        else:
            per_class.append(fit_calibration(method, target, raw[:, k], gam))
    return {"method": method, "problem_type": MULTICLASS, "per_class": per_class}


def top_label_ece(y: np.ndarray, probs: np.ndarray, n_bins: int) -> float:
    """ECE of the most probable class: its probability against how often it is right."""
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(np.float64)
    return expected_calibration_error(correct, confidence, n_bins)


def multiclass_brier(y: np.ndarray, probs: np.ndarray) -> float:
    onehot = np.eye(probs.shape[1])[y]
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def calibrate_multiclass(
    df: pd.DataFrame,
    label_field: str,
    method: str,
    n_bins: int,
    output_paths: dict[str, str],
    gam: dict[str, Any] | None = None,
) -> dict[str, float]:
    if method == "percentile":
        raise StepInputError(
            "CALIBRATION_METHOD=percentile maps one score to its rank and is for a binary "
            "label; use isotonic or sigmoid for multiclass predictions"
        )
    if label_field not in df.columns:
        raise StepInputError(
            f"{PREDICTIONS_FILE} has no column {label_field!r} (named by LABEL_FIELD); "
            f"columns are {list(df.columns)}"
        )
    raw = scores_from_predictions(df, MULTICLASS)
    y = pd.to_numeric(df[label_field], errors="coerce").to_numpy(dtype=np.float64)
    n_classes = raw.shape[1]
    if not np.isin(y, np.arange(n_classes)).all():
        raise StepInputError(
            f"label column {label_field!r} must hold class indices 0..{n_classes - 1}, as the "
            "evaluation steps write them"
        )
    y = y.astype(np.int64)
    calibration = fit_multiclass(method, y, raw, gam)
    calibrated = apply_calibration(raw, calibration)
    folds = fold_count(np.unique(y, return_inverse=True)[1])  # over the classes present
    held_out = (
        cross_fitted(
            lambda yy, pp: fit_multiclass(method, yy, pp, gam), apply_calibration, y, raw, folds
        )
        if folds >= 2
        else None
    )
    metrics: dict[str, Any] = {
        "method": method,
        "problem_type": MULTICLASS,
        "n_bins": n_bins,
        "n_samples": len(y),
        "n_classes": n_classes,
        "ece_before": top_label_ece(y, raw, n_bins),
        "brier_before": multiclass_brier(y, raw),
        "ece_after_in_sample": top_label_ece(y, calibrated, n_bins),
        "brier_after_in_sample": multiclass_brier(y, calibrated),
        **_after(
            y,
            calibrated,
            held_out,
            folds,
            n_bins,
            MULTICLASS,
            (top_label_ece(y, raw, n_bins), multiclass_brier(y, raw)),
        ),
    }
    calibrated_shown = calibrated if held_out is None else held_out
    metrics_dir = Path(output_paths["metrics_output"])
    metrics_dir.mkdir(parents=True, exist_ok=True)
    correct = (raw.argmax(axis=1) == y).astype(np.float64)
    correct_after = (calibrated_shown.argmax(axis=1) == y).astype(np.float64)
    if not plot_reliability(
        correct,
        raw.max(axis=1),
        calibrated_shown.max(axis=1),
        n_bins,
        metrics_dir / PLOT_FILE,
        observed_after=correct_after,
    ):
        metrics[PLOTS_SKIPPED] = MATPLOTLIB_MISSING
    calibrated_columns = {
        f"calibrated_{name}": calibrated[:, k] for k, name in enumerate(prob_columns(n_classes))
    }
    _write_outputs(df.assign(**calibrated_columns), calibration, metrics, output_paths)
    return {
        k: float(metrics[k]) for k in ("ece_before", "ece_after", "brier_before", "brier_after")
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--job_type", default="calibration")
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
