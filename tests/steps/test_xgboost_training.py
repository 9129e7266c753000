"""XGBoostTraining on breast_cancer as TabularPreprocessing hands it over: it learns, stops early on
val, repeats itself for a seed, and writes a model `_tabular.LoadedModel` scores as training did."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import data_loading
import numpy as np
import pytest
import tabular_preprocessing
import xgboost_training
import yaml
from _tabular import (
    LoadedModel,
    StepInputError,
    container_hyperparameters,
    read_table,
    write_table,
)

SPEC = Path(__file__).resolve().parents[2] / "src/cursus/steps/library/xgboost_training.step.yaml"
SMALL = {"num_round": 60, "max_depth": 3, "eta": 0.3, "early_stopping_rounds": 10}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The two TabularPreprocessing outputs XGBoostTraining is wired to, made by the real steps."""
    root = tmp_path_factory.mktemp("upstream")
    env = {"DATA_SOURCE": "sklearn:breast_cancer", "RANDOM_SEED": "0"}
    data_loading.main({}, {"data": str(root / "raw"), "metadata": str(root / "schema")}, env, {})
    tabular_preprocessing.main(
        {"data_input": str(root / "raw"), "metadata_input": str(root / "schema")},
        {"processed_data": str(root / "processed"), "preprocessing_artifacts": str(root / "prep")},
        {"RANDOM_SEED": "0"},
        {"job_type": "training"},
    )
    return {"input_path": str(root / "processed"), "preprocessing_artifacts": str(root / "prep")}


def train(
    inputs: dict[str, str], out: Path, hyperparameters: dict[str, Any]
) -> tuple[dict[str, float], Path]:
    outputs = {"model_output": str(out / "model"), "training_metrics": str(out / "metrics")}
    metrics = xgboost_training.main(inputs, outputs, {}, {"hyperparameters": hyperparameters})
    return metrics, out


def test_contract_matches_spec() -> None:
    contract = yaml.safe_load(SPEC.read_text())["contract"]
    assert contract["inputs"] == xgboost_training.CONTAINER_INPUTS
    assert contract["outputs"] == xgboost_training.CONTAINER_OUTPUTS
    assert list(contract["env"]) == xgboost_training.ENV_VARS


def test_learns_and_loaded_model_reproduces_its_predictions(
    inputs: dict[str, str], tmp_path: Path
) -> None:
    metrics, out = train(inputs, tmp_path, SMALL)

    assert metrics["val_auc"] > 0.95
    assert metrics["train_auc"] >= metrics["val_auc"] - 0.02
    model_dir = out / "model"
    assert {p.name for p in model_dir.iterdir()} == {
        "model.json",
        "model_meta.json",
        "preprocessing.json",
        "hyperparameters.json",
        "training_metrics.json",
    }
    meta = json.loads((model_dir / "model_meta.json").read_text())
    assert meta["framework"] == "xgboost"
    assert meta["best_iteration"] == metrics["best_iteration"]
    assert meta["label_field"] == "label"
    assert len(meta["features"]) == 30
    assert json.loads((out / "metrics" / "metrics.json").read_text()) == metrics
    assert json.loads((model_dir / "hyperparameters.json").read_text())["nthread"] == 1

    from sklearn.metrics import roc_auc_score

    val = read_table(Path(inputs["input_path"]) / "val")
    p_val = LoadedModel(model_dir).predict_proba(val.drop(columns="label"))
    assert roc_auc_score(val["label"], p_val) == pytest.approx(metrics["val_auc"])


def test_stops_early_on_the_validation_metric(inputs: dict[str, str], tmp_path: Path) -> None:
    hp = {"num_round": 400, "eta": 0.5, "early_stopping_rounds": 5, "eval_metric": "logloss"}
    metrics, out = train(inputs, tmp_path, hp)

    history = json.loads((out / "model" / "training_metrics.json").read_text())["history"]
    val_loss = history["val"]["logloss"]
    assert len(val_loss) == metrics["best_iteration"] + 1 + 5 < 400
    assert metrics["best_iteration"] == int(np.argmin(val_loss))


def test_same_seed_gives_the_same_model(inputs: dict[str, str], tmp_path: Path) -> None:
    hp = {**SMALL, "subsample": 0.7, "colsample_bytree": 0.7, "seed": 3}
    train(inputs, tmp_path / "a", hp)
    train(inputs, tmp_path / "b", hp)
    train(inputs, tmp_path / "c", {**hp, "seed": 4})

    def model_bytes(run: str) -> bytes:
        return (tmp_path / run / "model" / "model.json").read_bytes()

    assert model_bytes("a") == model_bytes("b") != model_bytes("c")


def test_sagemaker_string_hyperparameters_decode_back(tmp_path: Path) -> None:
    path = tmp_path / "hyperparameters.json"
    path.write_text(
        json.dumps(
            {
                "num_round": "50",
                "eta": "0.3",
                "eval_metric": "logloss",
                "sagemaker_program": '"xgboost_training.py"',
            }
        )
    )

    decoded = container_hyperparameters(path)

    assert decoded == {"num_round": 50, "eta": 0.3, "eval_metric": "logloss"}
    resolved = xgboost_training.resolve_hyperparameters(decoded)
    assert resolved["num_round"] == 50 and resolved["max_depth"] == 6


@pytest.mark.parametrize(
    ("hyperparameters", "named"),
    [
        ({"learning_rate": 0.1}, "learning_rate"),
        ({"eta": "fast"}, "eta"),
        ({"num_round": 2.5}, "num_round"),
        ({"subsample": 0}, "subsample"),
        ({"objective": "multi:softprob"}, "objective"),
    ],
)
def test_bad_hyperparameters_name_the_key(hyperparameters: dict[str, Any], named: str) -> None:
    with pytest.raises(StepInputError, match=named):
        xgboost_training.resolve_hyperparameters(hyperparameters)


def test_missing_val_split_is_named(inputs: dict[str, str], tmp_path: Path) -> None:
    only_train = tmp_path / "processed"
    write_table(read_table(Path(inputs["input_path"]) / "train"), only_train / "train")

    with pytest.raises(StepInputError, match=r"val is missing"):
        train({**inputs, "input_path": str(only_train)}, tmp_path, SMALL)
