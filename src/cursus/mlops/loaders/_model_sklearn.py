"""Loads a scikit-learn estimator that `MLOpsClient.log_model` saved with joblib.

`predict_matrix(X)` gives what `_tabular.LoadedModel` promises: the positive-class probability
(binary), one probability per class (multiclass) or the predicted value (regression). An estimator
fitted on a DataFrame gets its rows with the column names it was fitted with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class SklearnModel:
    def __init__(self, model_dir: Path, meta: dict[str, Any]) -> None:
        import joblib

        self._estimator = joblib.load(model_dir / meta["model_file"])
        self._problem_type = str(meta.get("problem_type") or "binary")
        names = getattr(self._estimator, "feature_names_in_", None)
        self._columns = None if names is None else [str(n) for n in names]

    def predict_matrix(self, X: np.ndarray) -> np.ndarray:
        rows: Any = X
        if self._columns is not None:
            import pandas as pd

            rows = pd.DataFrame(X, columns=self._columns)
        if self._problem_type == "regression":
            return np.asarray(self._estimator.predict(rows), dtype=np.float64)
        proba = np.asarray(self._estimator.predict_proba(rows), dtype=np.float64)
        return proba[:, 1] if self._problem_type == "binary" else proba


def load(model_dir: Path, meta: dict[str, Any], preprocessing: dict[str, Any]) -> SklearnModel:
    return SklearnModel(model_dir, meta)
