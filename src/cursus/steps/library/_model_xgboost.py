"""How an XGBoost model of XGBoostTraining is loaded (the framework table's `model_loader` of
xgboost): `load` returns an object whose `predict_matrix(X)` gives positive-class probabilities
from preprocessed features. It travels with the scripts and into model.tar.gz/code/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class XGBoostModel:
    def __init__(self, model_dir: Path, meta: dict[str, Any]) -> None:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(str(model_dir / meta["model_file"]))
        booster.set_param({"nthread": 1})
        self._booster = booster
        best = meta.get("best_iteration")
        self._predict_kwargs = {"iteration_range": (0, int(best) + 1)} if best is not None else {}

    def predict_matrix(self, X: np.ndarray) -> np.ndarray:
        import xgboost as xgb

        matrix = xgb.DMatrix(X, feature_names=None)
        return self._booster.predict(matrix, **self._predict_kwargs).astype(np.float64)


def load(model_dir: Path, meta: dict[str, Any], preprocessing: dict[str, Any]) -> XGBoostModel:
    return XGBoostModel(model_dir, meta)
