"""PyTorchTraining on breast_cancer: it learns, stops early, repeats itself for a seed, and writes a
model that `_tabular.LoadedModel` scores exactly as training did."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import _tabular
import numpy as np
import pandas as pd
import pytest
import pytorch_training
import torch
import yaml
from _fixtures import breast_cancer_frame

SPEC = (
    Path(__file__).resolve().parents[2]
    / "src"
    / "cursus"
    / "steps"
    / "library"
    / "pytorch_training.step.yaml"
)
SMALL = {"hidden_dims": [16], "epochs": 30, "batch_size": 64, "lr": 1e-2, "seed": 0}


@pytest.fixture(autouse=True)
def _torch_one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """processed_data (train/val/test) and preprocessing_artifacts as TabularPreprocessing writes them."""
    from sklearn.model_selection import train_test_split

    root = tmp_path_factory.mktemp("inputs")
    df = breast_cancer_frame()  # with a categorical column and missing values
    train, rest = train_test_split(df, test_size=0.4, random_state=0, stratify=df["label"])
    val, test = train_test_split(rest, test_size=0.5, random_state=0, stratify=rest["label"])
    for name, split in {"train": train, "val": val, "test": test}.items():
        _tabular.write_table(split.reset_index(drop=True), root / "processed" / name)
    artifacts = _tabular.fit_preprocessing(train, "label", None, None, {"0": 0, "1": 1})
    _tabular.save_json(artifacts, root / "artifacts" / _tabular.PREPROCESSING_FILE)
    return {
        "input_path": str(root / "processed"),
        "preprocessing_artifacts": str(root / "artifacts"),
    }


def train(
    inputs: dict[str, str], out: Path, hyperparameters: dict[str, Any]
) -> tuple[dict[str, float], dict[str, str]]:
    outputs = {"model_output": str(out / "model"), "training_metrics": str(out / "metrics")}
    metrics = pytorch_training.main(
        inputs, outputs, {"LABEL_FIELD": "label"}, {"hyperparameters": hyperparameters}
    )
    return metrics, outputs


def test_learns_and_loaded_model_reproduces_its_predictions(
    inputs: dict[str, str], tmp_path: Path
) -> None:
    metrics, outputs = train(inputs, tmp_path, SMALL)

    assert metrics["val_auc"] > 0.95
    model_dir = Path(outputs["model_output"])
    assert {p.name for p in model_dir.iterdir()} == {
        "model.pt",
        "model_meta.json",
        "preprocessing.json",
        "hyperparameters.json",
        "training_metrics.json",
    }
    meta = json.loads((model_dir / "model_meta.json").read_text())
    assert meta["framework"] == "pytorch"
    assert meta["hidden_dims"] == [16]
    assert meta["best_epoch"] == metrics["best_epoch"]
    saved = json.loads((Path(outputs["training_metrics"]) / "metrics.json").read_text())
    assert saved == pytest.approx(metrics)
    assert json.loads((model_dir / "hyperparameters.json").read_text())["dropout"] == 0.1

    val = _tabular.read_table(Path(inputs["input_path"]) / "val")
    p = _tabular.LoadedModel(model_dir).predict_proba(val)
    reproduced = _tabular.binary_metrics(val["label"].to_numpy(), p)
    assert reproduced["roc_auc"] == metrics["val_auc"]
    assert reproduced["log_loss"] == metrics["val_log_loss"]


def test_stops_early_and_keeps_the_best_epoch(inputs: dict[str, str], tmp_path: Path) -> None:
    hyperparameters = {**SMALL, "lr": 0.05, "epochs": 200, "early_stopping_patience": 1}
    metrics, outputs = train(inputs, tmp_path, hyperparameters)

    assert metrics["epochs_run"] < 200
    assert metrics["best_epoch"] == metrics["epochs_run"] - 1
    history = json.loads((Path(outputs["model_output"]) / "training_metrics.json").read_text())
    best_val_loss = min(row["val_log_loss"] for row in history["history"])
    assert metrics["val_log_loss"] == pytest.approx(best_val_loss, rel=1e-4)


def test_same_seed_same_model(inputs: dict[str, str], tmp_path: Path) -> None:
    hyperparameters = {**SMALL, "epochs": 5}
    runs = [
        train(inputs, tmp_path / name, hp)[1]
        for name, hp in [
            ("a", hyperparameters),
            ("b", hyperparameters),
            ("c", {**hyperparameters, "seed": 1}),
        ]
    ]
    states = [torch.load(Path(o["model_output"]) / "model.pt", weights_only=True) for o in runs]
    test = _tabular.read_table(Path(inputs["input_path"]) / "test")
    probs = [_tabular.LoadedModel(o["model_output"]).predict_proba(test) for o in runs]

    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    np.testing.assert_array_equal(probs[0], probs[1])
    assert not np.array_equal(probs[0], probs[2])


def test_rejects_unknown_and_bad_hyperparameters() -> None:
    with pytest.raises(_tabular.StepInputError, match="learning_rate"):
        pytorch_training.resolve_hyperparameters({"learning_rate": 0.1})
    with pytest.raises(_tabular.StepInputError, match="hidden_dims"):
        pytorch_training.resolve_hyperparameters({"hidden_dims": 64})
    with pytest.raises(_tabular.StepInputError, match="dropout"):
        pytorch_training.resolve_hyperparameters({"dropout": 1.5})
    with pytest.raises(_tabular.StepInputError, match="epochs"):
        pytorch_training.resolve_hyperparameters({"epochs": 2.5})
    assert pytorch_training.resolve_hyperparameters({"epochs": 7.0})["epochs"] == 7


def test_unknown_hyperparameter_fails_before_reading_data(tmp_path: Path) -> None:
    missing = {"input_path": str(tmp_path / "x"), "preprocessing_artifacts": str(tmp_path / "y")}
    with pytest.raises(_tabular.StepInputError, match="epoch_count"):
        train(missing, tmp_path, {"epoch_count": 3})


def test_container_hyperparameters_arrive_as_strings_and_resolve(tmp_path: Path) -> None:
    path = tmp_path / "hyperparameters.json"
    path.write_text(json.dumps({"hidden_dims": "[8, 4]", "lr": "0.01", "epochs": "3"}))
    hp = pytorch_training.resolve_hyperparameters(_tabular.container_hyperparameters(path))
    assert (hp["hidden_dims"], hp["lr"], hp["epochs"]) == ([8, 4], 0.01, 3)


def test_missing_label_column_names_label_field(inputs: dict[str, str], tmp_path: Path) -> None:
    outputs = {"model_output": str(tmp_path / "m"), "training_metrics": str(tmp_path / "t")}
    with pytest.raises(_tabular.StepInputError, match="LABEL_FIELD"):
        pytorch_training.main(
            inputs, outputs, {"LABEL_FIELD": "target"}, {"hyperparameters": SMALL}
        )


def test_constants_match_spec_contract() -> None:
    contract = yaml.safe_load(SPEC.read_text())["contract"]
    assert contract["entry_point"] == Path(pytorch_training.__file__).name
    assert contract["inputs"] == pytorch_training.CONTAINER_INPUTS
    assert contract["outputs"] == pytorch_training.CONTAINER_OUTPUTS
    assert list(contract["env"]) == pytorch_training.ENV_VARS


def test_standardiser_leaves_constant_columns_finite() -> None:
    X = np.array([[1.0, 5.0], [3.0, 5.0]], dtype=np.float32)
    standardiser = pytorch_training.Standardiser.fit(X)
    assert standardiser.scale.tolist() == [1.0, 1.0]
    assert pytorch_training.Standardiser.fit(X).transform(X).tolist() == [[-1.0, 0.0], [1.0, 0.0]]


def test_split_without_rows_is_an_input_error(tmp_path: Path) -> None:
    _tabular.write_table(pd.DataFrame({"a": [], "label": []}), tmp_path / "val")
    with pytest.raises(_tabular.StepInputError, match="no rows"):
        _tabular.load_training_split(tmp_path, "val", "label")
