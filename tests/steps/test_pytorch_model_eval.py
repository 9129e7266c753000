"""PyTorchModelEval scores the test split of a processed_data output with a model PyTorchTraining
wrote, and honours the spec contract."""

from __future__ import annotations

import json
from pathlib import Path

import _tabular
import model_eval
import pandas as pd
import pytest
import pytorch_training
import torch
import yaml
from _fixtures import LABEL, breast_cancer_frame

SPEC = (
    Path(__file__).resolve().parents[2]
    / "src"
    / "cursus"
    / "steps"
    / "library"
    / "pytorch_model_eval.step.yaml"
)


@pytest.fixture(autouse=True)
def _torch_one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture
def trained(tmp_path: Path) -> dict[str, str]:
    """A processed_data folder (train/val/test) and the model PyTorchTraining trained on it."""
    df = breast_cancer_frame().sample(frac=1.0, random_state=0).reset_index(drop=True)
    df.insert(0, "customer_id", [f"c{i:04d}" for i in range(len(df))])
    splits = {"train": df.iloc[:340], "val": df.iloc[340:455], "test": df.iloc[455:]}
    for name, split in splits.items():
        _tabular.write_table(split.reset_index(drop=True), tmp_path / "processed" / name)
    prep = _tabular.fit_preprocessing(splits["train"], LABEL, "customer_id", None, {"0": 0, "1": 1})
    _tabular.save_json(prep, tmp_path / "artifacts" / _tabular.PREPROCESSING_FILE)
    pytorch_training.main(
        {
            "input_path": str(tmp_path / "processed"),
            "preprocessing_artifacts": str(tmp_path / "artifacts"),
        },
        {
            "model_output": str(tmp_path / "model"),
            "training_metrics": str(tmp_path / "train_metrics"),
        },
        {"LABEL_FIELD": LABEL},
        {"hyperparameters": {"hidden_dims": [16], "epochs": 20, "batch_size": 64, "lr": 1e-2}},
    )
    return {"model_input": str(tmp_path / "model"), "processed_data": str(tmp_path / "processed")}


def test_writes_predictions_metrics_and_curves(trained: dict[str, str], tmp_path: Path) -> None:
    outputs = {"eval_output": str(tmp_path / "eval"), "metrics_output": str(tmp_path / "metrics")}
    metrics = model_eval.main(
        trained, outputs, {"LABEL_FIELD": LABEL, "ID_FIELD": "customer_id"}, {"job_type": "testing"}
    )

    assert metrics["roc_auc"] > 0.95
    assert metrics["n_samples"] == 114
    predictions = pd.read_parquet(Path(outputs["eval_output"]) / "predictions.parquet")
    assert list(predictions.columns) == ["customer_id", LABEL, "prob"]
    assert predictions["prob"].between(0, 1).all()
    test = _tabular.read_table(Path(trained["processed_data"]) / "test")
    assert predictions["customer_id"].tolist() == test["customer_id"].tolist()
    metrics_dir = Path(outputs["metrics_output"])
    assert json.loads((metrics_dir / "metrics.json").read_text()) == pytest.approx(metrics)
    assert (metrics_dir / "roc_curve.png").stat().st_size > 0
    assert (metrics_dir / "pr_curve.png").stat().st_size > 0


def test_job_type_flag_is_parsed_for_the_container() -> None:
    assert model_eval._parse_job_args(["--job_type", "calibration"]) == {"job_type": "calibration"}
    assert model_eval._parse_job_args([]) == {"job_type": "testing"}


def test_constants_match_spec_contract() -> None:
    contract = yaml.safe_load(SPEC.read_text())["contract"]
    assert contract["entry_point"] == Path(model_eval.__file__).name
    assert contract["inputs"] == model_eval.CONTAINER_INPUTS
    assert contract["outputs"] == model_eval.CONTAINER_OUTPUTS
    assert list(contract["env"]) == model_eval.ENV_VARS
