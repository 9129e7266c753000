"""FeatureSelection: keep the features several selection methods agree on.

Training job type: each method of SELECTION_METHODS scores every feature on the train split, as
the model will see it (encoded, imputed): statistical methods (variance, correlation with the
label, mutual information, an F-test) and model-based ones (random forest importance, L1
coefficients). COMBINATION_STRATEGY turns the scores into one choice of N_FEATURES_TO_SELECT:
`voting` (the features most methods rank in their top N), `rank` (best mean rank), `union` or
`intersection` of every method's top N. Of two features correlated above CORRELATION_THRESHOLD
only the better ranked stays; features whose variance is at most VARIANCE_THRESHOLD never do.
Other job types keep the columns the `_training` node chose. The choice joins preprocessing.json's
transform chain; the model is trained on, and serves, the chosen features only.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import numpy as np
import pandas as pd
from _tabular import (
    BINARY,
    MULTICLASS,
    REGRESSION,
    StepInputError,
    encode_features,
    encode_labels,
    env_float,
    env_int,
    env_json,
    env_str,
    new_transform,
    problem_type_of,
    run_transform_step,
)

STEP_TYPE = "FeatureSelection"
CONTAINER_INPUTS = {
    "processed_data": "/opt/ml/processing/input/data",
    "preprocessing_artifacts": "/opt/ml/processing/input/preprocessing_artifacts",
}
CONTAINER_OUTPUTS = {
    "processed_data": "/opt/ml/processing/output/processed_data",
    "preprocessing_artifacts": "/opt/ml/processing/output/preprocessing_artifacts",
}
ENV_VARS = [
    "SELECTION_METHODS",
    "N_FEATURES_TO_SELECT",
    "COMBINATION_STRATEGY",
    "VARIANCE_THRESHOLD",
    "CORRELATION_THRESHOLD",
    "RANDOM_SEED",
]
METHODS = ("variance", "correlation", "mutual_info", "f_test", "random_forest", "lasso")
STRATEGIES = ("voting", "rank", "union", "intersection")
DEFAULT_METHODS = ["variance", "correlation", "mutual_info", "random_forest"]
# the methods score a seeded sample of this many rows at most: enough to rank features, and
# what keeps a forest and mutual information affordable on millions of rows
MAX_SCORING_ROWS = 20000


def method_scores(method: str, X: np.ndarray, y: np.ndarray, problem: str, seed: int) -> np.ndarray:
    """One score per feature column, higher meaning more useful."""
    classify = problem != REGRESSION
    if method == "variance":
        return X.var(axis=0)
    if method == "correlation" and problem != MULTICLASS:
        centred = X - X.mean(axis=0)
        spread = np.sqrt((centred**2).sum(axis=0) * ((y - y.mean()) ** 2).sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = (centred * (y - y.mean())[:, None]).sum(axis=0) / spread
        return np.nan_to_num(np.abs(corr))
    if method in ("correlation", "f_test"):  # a multiclass label has no correlation: ANOVA F
        from sklearn.feature_selection import f_classif, f_regression

        scores = (f_classif if classify else f_regression)(X, y)[0]
        return np.nan_to_num(scores)
    if method == "mutual_info":
        from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

        mi = mutual_info_classif if classify else mutual_info_regression
        return mi(X, y, random_state=seed)
    if method == "random_forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        forest = (RandomForestClassifier if classify else RandomForestRegressor)(
            n_estimators=100, max_depth=8, random_state=seed, n_jobs=1
        )
        return forest.fit(X, y).feature_importances_
    if method == "lasso":
        from sklearn.linear_model import Lasso, LogisticRegression
        from sklearn.preprocessing import StandardScaler

        Z = StandardScaler().fit_transform(X)
        if not classify:
            return np.abs(Lasso(alpha=0.01, random_state=seed, max_iter=5000).fit(Z, y).coef_)
        model = LogisticRegression(solver="saga", C=0.5, max_iter=2000, **_l1_penalty())
        return np.abs(model.fit(Z, y).coef_).sum(axis=0)
    raise StepInputError(f"selection method {method!r} is unknown; use some of {list(METHODS)}")


def _l1_penalty() -> dict[str, Any]:
    """scikit-learn 1.8 spells an L1 penalty l1_ratio=1 (penalty is deprecated); the images'
    older releases spell it penalty="l1"."""
    import sklearn

    major, minor = (int(part) for part in sklearn.__version__.split(".")[:2])
    return {"l1_ratio": 1.0} if (major, minor) >= (1, 8) else {"penalty": "l1"}


def ranks(scores: np.ndarray) -> np.ndarray:
    """1 for the best score; ties share the better rank."""
    order = pd.Series(-scores).rank(method="min").to_numpy()
    return order


def combine(scores: dict[str, np.ndarray], n: int, strategy: str, allowed: np.ndarray) -> list[int]:
    """Column indexes in the order they are preferred; `allowed` masks out the filtered ones."""
    all_ranks = np.vstack([ranks(np.where(allowed, s, -np.inf)) for s in scores.values()])
    mean_rank = all_ranks.mean(axis=0)
    top = all_ranks <= n
    votes = top.sum(axis=0)
    candidates = np.flatnonzero(allowed)
    if strategy == "voting":
        return sorted(candidates, key=lambda i: (-votes[i], mean_rank[i], i))
    if strategy == "rank":
        return sorted(candidates, key=lambda i: (mean_rank[i], i))
    if strategy == "union":
        chosen = [int(i) for i in candidates if votes[i] > 0]
    else:
        chosen = [int(i) for i in candidates if votes[i] == len(scores)]
    return sorted(chosen, key=lambda i: (mean_rank[i], i))


def without_redundant(X: np.ndarray, order: list[int], n: int, threshold: float) -> list[int]:
    """The first `n` of `order`, skipping a column correlated above `threshold` with one kept."""
    kept: list[int] = []
    for i in order:
        if len(kept) == n:
            break
        if kept and threshold < 1:
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = np.corrcoef(X[:, [i, *kept]], rowvar=False)[0, 1:]
            if np.nanmax(np.abs(corr)) > threshold:
                continue
        kept.append(i)
    return kept


def settings(environ: dict[str, str]) -> dict[str, Any]:
    raw = env_str(environ, "SELECTION_METHODS")
    if raw is None:
        methods: Any = DEFAULT_METHODS
    elif raw.lstrip().startswith("["):
        methods = env_json(environ, "SELECTION_METHODS")
    else:  # the first system's spelling: variance,correlation,mutual_info
        methods = [m.strip() for m in raw.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if not methods or unknown:
        raise StepInputError(
            f"SELECTION_METHODS {methods!r}: name at least one of {list(METHODS)}"
            + (f" (unknown: {unknown})" if unknown else "")
        )
    strategy = (env_str(environ, "COMBINATION_STRATEGY", "voting") or "").lower()
    if strategy not in STRATEGIES:
        raise StepInputError(f"COMBINATION_STRATEGY={strategy!r}: use one of {list(STRATEGIES)}")
    n = env_int(environ, "N_FEATURES_TO_SELECT", 10)
    if n < 1:
        raise StepInputError("N_FEATURES_TO_SELECT must be at least 1")
    return {
        "methods": methods,
        "strategy": strategy,
        "n": n,
        "variance_threshold": env_float(environ, "VARIANCE_THRESHOLD", 0.0),
        "correlation_threshold": env_float(environ, "CORRELATION_THRESHOLD", 0.95),
        "seed": env_int(environ, "RANDOM_SEED", 42),
    }


def fit(train: pd.DataFrame, artifacts: dict[str, Any], config: dict[str, Any]):
    features: list[str] = artifacts["features"]
    if not features:
        raise StepInputError("there are no features to select from")
    problem = problem_type_of(artifacts)
    sample = train
    if len(train) > MAX_SCORING_ROWS:
        sample = train.sample(n=MAX_SCORING_ROWS, random_state=config["seed"])
    X = encode_features(sample, artifacts).astype(np.float64)  # train is transformed already
    y = encode_labels(sample[artifacts["label_field"]], artifacts, "the train split")
    y = y.astype(np.float64 if problem == REGRESSION else np.int64)
    if problem == BINARY and len(np.unique(y)) < 2:
        raise StepInputError("the train split holds one class; features cannot be scored")
    scores = {m: method_scores(m, X, y, problem, config["seed"]) for m in config["methods"]}
    allowed = X.var(axis=0) > config["variance_threshold"]
    if not allowed.any():
        raise StepInputError(
            f"no feature has a variance above VARIANCE_THRESHOLD={config['variance_threshold']}"
        )
    n = min(config["n"], len(features))
    order = combine(scores, n, config["strategy"], allowed)
    limit = n if config["strategy"] in ("voting", "rank") else len(order)
    chosen = without_redundant(X, order, limit, config["correlation_threshold"])
    if not chosen:
        raise StepInputError(
            f"COMBINATION_STRATEGY={config['strategy']} chose no feature (no feature is in every "
            "method's top N); use voting or rank, or raise N_FEATURES_TO_SELECT"
        )
    keep = [features[i] for i in sorted(chosen)]
    passed = [c for c in (artifacts["label_field"], artifacts.get("id_field")) if c]
    transform = new_transform(
        "select",
        STEP_TYPE,
        keep=keep,
        pass_columns=passed,
        method_scores={m: {f: float(v) for f, v in zip(features, s)} for m, s in scores.items()},  # noqa: B905 - Python 3.8 images: no strict=
        strategy=config["strategy"],
    )
    encoding = {
        **artifacts,
        "features": keep,
        "categories": {c: v for c, v in artifacts["categories"].items() if c in keep},
        "numeric_impute": {c: v for c, v in artifacts["numeric_impute"].items() if c in keep},
        "numeric_stats": {c: v for c, v in artifacts.get("numeric_stats", {}).items() if c in keep},
    }
    return transform, encoding


def main(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    config = settings(environ_vars)
    job_type = job_args.get("job_type") or "training"
    chosen: dict[str, int] = {}

    def fit_and_count(train: pd.DataFrame, artifacts: dict[str, Any]):
        transform, encoding = fit(train, artifacts, config)
        chosen.update(before=len(artifacts["features"]), after=len(transform["keep"]))
        return transform, encoding

    metrics = run_transform_step(STEP_TYPE, input_paths, output_paths, job_type, fit_and_count)
    if chosen:
        metrics.update(n_features_before=float(chosen["before"]), n_selected=float(chosen["after"]))
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
