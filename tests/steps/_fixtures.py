"""Real inputs for the step-script tests, built without running the other steps' scripts: a small
XGBoost model in the model_artifacts layout of docs/step-scripts.md, trained on breast_cancer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

LABEL = "label"
CATEGORICAL = "segment"


@dataclass(frozen=True)
class TrainedModel:
    """A model_artifacts folder and held-out raw rows (features + label) it has not seen."""

    model_dir: Path
    test: pd.DataFrame

    @property
    def features(self) -> pd.DataFrame:
        return self.test.drop(columns=[LABEL])


def breast_cancer_frame(seed: int = 0) -> pd.DataFrame:
    """breast_cancer plus one categorical column and a few missing values, so imputation and
    category encoding are exercised too."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    df = bunch.data.copy()
    rng = np.random.default_rng(seed)
    df[CATEGORICAL] = rng.choice(["north", "south", "west"], size=len(df))
    df.loc[rng.choice(len(df), size=20, replace=False), "mean texture"] = np.nan
    df[LABEL] = bunch.target.astype(int)
    return df


def train_xgboost_model(model_dir: Path, seed: int = 0) -> TrainedModel:
    """Fit preprocessing and a booster with early stopping; write every model_artifacts file."""
    import _tabular
    import xgboost as xgb

    df = breast_cancer_frame(seed)
    order = np.random.default_rng(seed).permutation(len(df))
    train, val, test = (
        df.iloc[order[a:b]].reset_index(drop=True) for a, b in ((0, 400), (400, 480), (480, None))
    )
    prep = _tabular.fit_preprocessing(train, LABEL, None, None, {"0": 0, "1": 1})
    params = {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "max_depth": 3,
        "eta": 0.3,
        "nthread": 1,
        "seed": seed,
    }
    dtrain = xgb.DMatrix(_tabular.apply_preprocessing(train, prep), label=train[LABEL])
    dval = xgb.DMatrix(_tabular.apply_preprocessing(val, prep), label=val[LABEL])
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=60,
        evals=[(dval, "val")],
        early_stopping_rounds=10,
        verbose_eval=False,
    )

    model_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(model_dir / "model.json"))
    meta = {
        "framework": "xgboost",
        "model_file": "model.json",
        "features": prep["features"],
        "label_field": LABEL,
        "best_iteration": int(booster.best_iteration),
    }
    _tabular.save_json(meta, model_dir / _tabular.MODEL_META_FILE)
    _tabular.save_json(prep, model_dir / _tabular.PREPROCESSING_FILE)
    _tabular.save_json(
        {**params, "num_boost_round": 60, "early_stopping_rounds": 10},
        model_dir / "hyperparameters.json",
    )
    loaded = _tabular.LoadedModel(model_dir)
    metrics = {
        "best_iteration": int(booster.best_iteration),
        "train": _tabular.binary_metrics(train[LABEL].to_numpy(), loaded.predict_proba(train)),
        "val": _tabular.binary_metrics(val[LABEL].to_numpy(), loaded.predict_proba(val)),
    }
    _tabular.save_json(metrics, model_dir / "training_metrics.json")
    return TrainedModel(model_dir=model_dir, test=test)


SPECS_DIR = Path(__file__).resolve().parents[2] / "src" / "cursus" / "steps" / "library"


def assert_matches_spec(module, spec_name: str) -> None:
    """The script's container constants are the spec's contract (what the runner mounts and sets)."""
    import yaml

    contract = yaml.safe_load((SPECS_DIR / f"{spec_name}.step.yaml").read_text())["contract"]
    assert Path(module.__file__).name == contract["entry_point"]
    assert contract["inputs"] == module.CONTAINER_INPUTS
    assert contract["outputs"] == module.CONTAINER_OUTPUTS
    assert list(contract["env"]) == module.ENV_VARS


def build_package(model_dir: Path, out_dir: Path, calibration_dir: Path | None = None) -> Path:
    """Run the Package step; return the model.tar.gz it wrote."""
    import package

    inputs = {"model_input": str(model_dir)}
    if calibration_dir is not None:
        inputs["calibration_model"] = str(calibration_dir)
    package.main(inputs, {"packaged_model": str(out_dir)}, {}, {})
    return out_dir / package.MODEL_ARCHIVE


def calibrate(trained: TrainedModel, work_dir: Path, method: str = "isotonic") -> Path:
    """Score the held-out rows and run ModelCalibration on them; return its calibration folder."""
    import _tabular
    import model_calibration

    scored = trained.test.assign(
        prob=_tabular.LoadedModel(trained.model_dir).predict_proba(trained.test)
    )
    (work_dir / "eval").mkdir(parents=True)
    scored.to_parquet(work_dir / "eval" / "predictions.parquet", index=False)
    outputs = {name: str(work_dir / name) for name in model_calibration.CONTAINER_OUTPUTS}
    environ = {"LABEL_FIELD": LABEL, "CALIBRATION_METHOD": method}
    model_calibration.main(
        {"evaluation_data": str(work_dir / "eval")}, outputs, environ, {"job_type": "calibration"}
    )
    return work_dir / "calibration_output"
