"""A model held in memory becomes a packaged model: model.tar.gz in the Package step's layout.

`MLOpsClient.log_model(model, name)` takes a fitted scikit-learn estimator, an XGBoost or LightGBM
model (their scikit-learn classes or a Booster) or a PyTorch module. `package_model` saves it in
its framework's own format, writes the model_meta.json and preprocessing.json the serving code
reads, and runs the Package step on that folder, so the archive holds the same code/inference.py
every pipeline model ships: `cursus serve`, `cursus deploy` and a SageMaker endpoint serve it as
they serve a model a pipeline trained. Before the archive is returned, its own code scores a row
and must agree with the model in memory.

Rows are taken as numbers in the model's feature order (or by feature name); missing values are
passed to the model as NaN. XGBoost and LightGBM models load with the step library's loaders; a
scikit-learn estimator (joblib) and a PyTorch module (TorchScript) bring a loader of their own
(`cursus/mlops/loaders/`), which travels in the archive.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cursus.mlops.project import MLOpsError

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"
LOADERS = Path(__file__).resolve().parent / "loaders"
MODEL_META_FILE = "model_meta.json"
PREPROCESSING_FILE = "preprocessing.json"
ACCEPTED = (
    "a fitted scikit-learn estimator, an XGBoost or LightGBM model (scikit-learn class or "
    "Booster), a PyTorch module, or the path of a model.tar.gz"
)
PARITY_TOLERANCE = 1e-5


@dataclass
class Described:
    """What packaging needs to know of a model: how to save it and what it predicts."""

    framework: str
    problem_type: str
    features: list[str]
    classes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)  # framework-specific model_meta fields


def framework_of(model: Any) -> str:
    """'xgboost', 'lightgbm', 'pytorch' or 'sklearn', from the model's classes."""
    roots = {cls.__module__.split(".")[0] for cls in type(model).__mro__}
    for root, framework in (
        ("xgboost", "xgboost"),
        ("lightgbm", "lightgbm"),
        ("torch", "pytorch"),
        ("sklearn", "sklearn"),
    ):
        if root in roots:
            return framework
    raise MLOpsError(f"log_model cannot package a {type(model).__name__}: it takes {ACCEPTED}")


def package_model(
    model: Any,
    destination: str | Path,
    features: list[str] | None = None,
    problem_type: str | None = None,
    outputs: str = "logits",
) -> Path:
    """Save `model` and package it as `destination`/model.tar.gz (returned).

    `features` names the input columns when the model does not know them (a PyTorch module, an
    estimator fitted on an array); `problem_type` is needed only where the model cannot tell
    (a PyTorch module with one output: binary unless "regression"); `outputs` says whether a
    PyTorch module gives "logits" (the default) or "probabilities".
    """
    if problem_type not in (None, BINARY, MULTICLASS, REGRESSION):
        raise MLOpsError(
            f"problem_type {problem_type!r} is not one of {BINARY}, {MULTICLASS}, {REGRESSION}"
        )
    if outputs not in ("logits", "probabilities"):
        raise MLOpsError(f"outputs {outputs!r} must be 'logits' or 'probabilities'")
    destination = Path(destination)
    folder = destination / "model"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    framework = framework_of(model)
    described = SAVERS[framework](model, folder, features, problem_type, outputs)
    if problem_type is not None and problem_type != described.problem_type:
        raise MLOpsError(
            f"problem_type {problem_type!r} was given, but the {framework} model is "
            f"{described.problem_type}; leave problem_type out or fit the model for it"
        )
    _write_json(folder / MODEL_META_FILE, _meta(described))
    _write_json(folder / PREPROCESSING_FILE, _preprocessing(described))
    from cursus.steps.library import get_step_unit

    package = get_step_unit("Package").import_script()
    with contextlib.redirect_stdout(io.StringIO()):  # the step prints what it wrote
        package.main({"model_input": str(folder)}, {"packaged_model": str(destination)}, {}, {})
    archive = destination / "model.tar.gz"
    check_parity(model, archive, described)
    return archive


# ---------------------------------------------------------------------- per framework


def _save_sklearn(
    model: Any, folder: Path, features: list[str] | None, problem_type: str | None, _outputs: str
) -> Described:
    import joblib
    import sklearn
    from sklearn.base import is_classifier
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError:
        raise MLOpsError(
            f"the {type(model).__name__} is not fitted; fit it before log_model"
        ) from None
    names = getattr(model, "feature_names_in_", None)
    count = getattr(model, "n_features_in_", None)
    found = [str(n) for n in names] if names is not None else None
    features = _features(features, found, count, type(model).__name__)
    if is_classifier(model):
        classes = [str(c) for c in model.classes_]
        kind = BINARY if len(classes) == 2 else MULTICLASS
    else:
        classes, kind = [], REGRESSION
    joblib.dump(model, folder / "model.joblib")
    shutil.copyfile(LOADERS / "_model_sklearn.py", folder / "_model_sklearn.py")
    meta = {"model_file": "model.joblib", "loader": "_model_sklearn"}
    return Described(
        "sklearn", kind, features, classes, {**meta, "sklearn_version": sklearn.__version__}
    )


XGBOOST_KINDS = {"binary:logistic": BINARY, "multi:softprob": MULTICLASS}
XGBOOST_REFUSED = {
    "multi:softmax": "it predicts class indices; fit with objective multi:softprob",
    "binary:logitraw": "it predicts margins; fit with objective binary:logistic",
    "binary:hinge": "it predicts 0/1 only; fit with objective binary:logistic",
}


def _save_xgboost(
    model: Any, folder: Path, features: list[str] | None, problem_type: str | None, _outputs: str
) -> Described:
    import xgboost as xgb

    classes: list[str] = []
    if isinstance(model, xgb.Booster):
        booster = model
    else:
        try:
            booster = model.get_booster()
        except Exception:
            raise MLOpsError(
                f"the {type(model).__name__} is not fitted; fit it before log_model"
            ) from None
        classes = [str(c) for c in getattr(model, "classes_", [])]
    config = json.loads(booster.save_config())["learner"]
    objective = config["objective"]["name"]
    if objective in XGBOOST_REFUSED:
        raise MLOpsError(
            f"XGBoost objective {objective} cannot be served: {XGBOOST_REFUSED[objective]}"
        )
    kind = XGBOOST_KINDS.get(objective, REGRESSION)
    if kind == MULTICLASS and not classes:
        classes = [str(k) for k in range(int(config["learner_model_param"]["num_class"]))]
    if kind == BINARY and not classes:
        classes = ["0", "1"]
    features = _features(features, booster.feature_names, booster.num_features(), "Booster")
    saved = booster.copy()  # the served rows are a plain matrix in the features' order
    saved.feature_names = None
    saved.feature_types = None
    saved.save_model(str(folder / "model.json"))
    meta = {"model_file": "model.json", "xgboost_version": xgb.__version__}
    return Described("xgboost", kind, features, classes, meta)


def _save_lightgbm(
    model: Any, folder: Path, features: list[str] | None, problem_type: str | None, _outputs: str
) -> Described:
    import lightgbm as lgb

    classes: list[str] = []
    if isinstance(model, lgb.Booster):
        booster = model
    else:
        try:
            booster = model.booster_
        except Exception:
            raise MLOpsError(
                f"the {type(model).__name__} is not fitted; fit it before log_model"
            ) from None
        classes = [str(c) for c in getattr(model, "classes_", [])]
    dumped = booster.dump_model(num_iteration=0)
    objective = str(dumped.get("objective", "")).split()[0]
    if objective == "binary":
        kind, classes = BINARY, classes or ["0", "1"]
    elif objective in ("multiclass", "softmax"):
        kind = MULTICLASS
        classes = classes or [str(k) for k in range(int(dumped["num_class"]))]
    elif objective in ("multiclassova", "ova", "lambdarank", "rank_xendcg", "xentlambda"):
        raise MLOpsError(f"LightGBM objective {objective} cannot be served as probabilities")
    else:
        kind = REGRESSION
    names = booster.feature_name()
    generic = names == [f"Column_{i}" for i in range(len(names))]
    features = _features(features, None if generic else names, booster.num_feature(), "Booster")
    booster.save_model(str(folder / "model.txt"))
    meta = {"model_file": "model.txt", "lightgbm_version": lgb.__version__}
    return Described("lightgbm", kind, features, classes, meta)


def _save_pytorch(
    model: Any, folder: Path, features: list[str] | None, problem_type: str | None, outputs: str
) -> Described:
    import torch

    count = next((m.in_features for m in model.modules() if isinstance(m, torch.nn.Linear)), None)
    features = _features(features, None, count, type(model).__name__)
    model.eval()
    example = torch.zeros(2, len(features))
    with warnings.catch_warnings():
        # torch 2.13 deprecates TorchScript for torch.export, which the PyTorch 2.1 images
        # that serve these models cannot load; TorchScript loads in both
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            scripted = torch.jit.script(model)
        except Exception:  # code TorchScript cannot compile: record what it does on a sample
            scripted = torch.jit.trace(model, example)
    with torch.no_grad():
        width = int(scripted(example).reshape(2, -1).shape[1])
    if width == 1:
        kind = REGRESSION if problem_type == REGRESSION else BINARY
        classes = [] if kind == REGRESSION else ["0", "1"]
    else:
        kind, classes = MULTICLASS, [str(k) for k in range(width)]
    scripted.save(str(folder / "model.pt"))
    shutil.copyfile(LOADERS / "_model_torchscript.py", folder / "_model_torchscript.py")
    meta = {
        "model_file": "model.pt",
        "loader": "_model_torchscript",
        "outputs": outputs,
        "torch_version": torch.__version__,
    }
    return Described("pytorch", kind, features, classes, meta)


SAVERS = {
    "sklearn": _save_sklearn,
    "xgboost": _save_xgboost,
    "lightgbm": _save_lightgbm,
    "pytorch": _save_pytorch,
}


def _features(
    given: Sequence[str] | None, found: Sequence[str] | None, count: int | None, what: str
) -> list[str]:
    """The feature names: given, else the model's own, else f0..f<n-1>; a given list must have
    the model's width."""
    if given is not None:
        given = [str(f) for f in given]
        if count is not None and len(given) != count:
            raise MLOpsError(
                f"features names {len(given)} columns but the {what} takes {count}; "
                "give one name per input column, in order"
            )
        if len(set(given)) != len(given):
            raise MLOpsError("features has repeated names; give each input column its own name")
        return given
    if found:
        return [str(f) for f in found]
    if count is None:
        raise MLOpsError(f"cannot tell how many inputs the {what} takes; pass features=[...]")
    return [f"f{i}" for i in range(int(count))]


def _meta(described: Described) -> dict[str, Any]:
    return {
        "framework": described.framework,
        "problem_type": described.problem_type,
        "features": described.features,
        "label_field": "label",
        "n_outputs": len(described.classes) if described.problem_type == MULTICLASS else 1,
        "logged_by": "MLOpsClient.log_model",
        **described.meta,
    }


def _preprocessing(described: Described) -> dict[str, Any]:
    """No fitted encoding: every feature is a number, and a missing one reaches the model as NaN
    (a null impute value)."""
    return {
        "fitted": True,
        "label_field": "label",
        "id_field": None,
        "problem_type": described.problem_type,
        "label_mapping": {c: i for i, c in enumerate(described.classes)},
        "features": described.features,
        "numeric_impute": dict.fromkeys(described.features),
        "numeric_stats": {},
        "categories": {},
    }


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------- the parity check


def native_predictions(model: Any, X: np.ndarray, described: Described) -> np.ndarray:
    """What the model in memory predicts for `X`, in the served shape."""
    framework = described.framework
    if framework == "sklearn":
        rows: Any = X
        if getattr(model, "feature_names_in_", None) is not None:
            import pandas as pd

            rows = pd.DataFrame(X, columns=list(model.feature_names_in_))
        if described.problem_type == REGRESSION:
            return np.asarray(model.predict(rows), dtype=np.float64)
        proba = np.asarray(model.predict_proba(rows), dtype=np.float64)
        return proba[:, 1] if described.problem_type == BINARY else proba
    if framework == "xgboost":
        import xgboost as xgb

        booster = model if isinstance(model, xgb.Booster) else model.get_booster()
        matrix = xgb.DMatrix(X, feature_names=booster.feature_names)
        return np.asarray(booster.predict(matrix), dtype=np.float64)
    if framework == "lightgbm":
        import lightgbm as lgb

        booster = model if isinstance(model, lgb.Booster) else model.booster_
        return np.asarray(booster.predict(X), dtype=np.float64)
    import torch

    with torch.no_grad():
        out = model(torch.from_numpy(X.astype(np.float32)))
    logits = described.meta.get("outputs") == "logits"
    if described.problem_type == MULTICLASS:
        return (torch.softmax(out, dim=-1) if logits else out).numpy().astype(np.float64)
    out = out.reshape(len(X))
    if described.problem_type == BINARY and logits:
        out = torch.sigmoid(out)
    return out.numpy().astype(np.float64)


def check_parity(model: Any, archive: Path, described: Described) -> None:
    """The archive's own serving code loads the model and agrees with it on a few rows."""
    from cursus.mlops.invoke import load_handler
    from cursus.mlops.serving import unpacked

    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, len(described.features))).astype(np.float32)
    expected = native_predictions(model, X, described)
    with unpacked(archive) as model_dir:
        handler = load_handler(model_dir / "code")
        served = handler.model_fn(str(model_dir)).model.predict_matrix(X)
        for name, module in list(sys.modules.items()):
            if str(getattr(module, "__file__", "")).startswith(str(model_dir)):
                del sys.modules[name]  # loaded from a folder about to be removed
    if np.shape(served) != np.shape(expected) or not np.allclose(
        served, expected, rtol=PARITY_TOLERANCE, atol=PARITY_TOLERANCE
    ):
        raise MLOpsError(
            f"the packaged {described.framework} model does not predict what the model in memory "
            f"does (first row: {np.ravel(served)[:3].tolist()} against "
            f"{np.ravel(expected)[:3].tolist()}); nothing was registered"
        )
