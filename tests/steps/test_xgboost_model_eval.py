"""XGBoostModelEval scores a held-out split with a trained model and writes predictions, metrics and
ROC / PR curves (the work is `_tabular.run_evaluation`, shared with PyTorchModelEval)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import data_loading
import model_eval
import numpy as np
import pandas as pd
import pytest
import tabular_preprocessing
import xgboost_training
import yaml
from _tabular import StepInputError, read_table, write_table

SPEC = Path(__file__).resolve().parents[2] / "src/cursus/steps/library/xgboost_model_eval.step.yaml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A model and processed splits made by the real upstream steps, with an id column."""
    root = tmp_path_factory.mktemp("upstream")
    env = {"DATA_SOURCE": "sklearn:breast_cancer", "ID_FIELD": "row_id"}
    data_loading.main({}, {"data": str(root / "raw"), "metadata": str(root / "schema")}, env, {})
    tabular_preprocessing.main(
        {"data_input": str(root / "raw"), "metadata_input": str(root / "schema")},
        {"processed_data": str(root / "processed"), "preprocessing_artifacts": str(root / "prep")},
        {},
        {"job_type": "training"},
    )
    xgboost_training.main(
        {"input_path": str(root / "processed"), "preprocessing_artifacts": str(root / "prep")},
        {"model_output": str(root / "model"), "training_metrics": str(root / "train_metrics")},
        {},
        # logloss, not the default auc: val AUC reaches 1.0 on 85 rows and would stop at tree 3
        {
            "hyperparameters": {
                "num_round": 40,
                "max_depth": 3,
                "eta": 0.3,
                "eval_metric": "logloss",
            }
        },
    )
    return {"model": root / "model", "processed": root / "processed"}


def evaluate(
    model: Path,
    processed: Path,
    out: Path,
    env: dict[str, str] | None = None,
    job_type: str = "testing",
) -> dict[str, float]:
    return model_eval.main(
        {"model_input": str(model), "processed_data": str(processed)},
        {"eval_output": str(out / "eval"), "metrics_output": str(out / "metrics")},
        env or {},
        {"job_type": job_type},
    )


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm", "pytorch"])
def test_contract_matches_spec(framework: str) -> None:
    """The three evaluation step types run this one script under one contract."""
    spec = SPEC.with_name(f"{framework}_model_eval.step.yaml")
    contract = yaml.safe_load(spec.read_text())["contract"]
    assert contract["entry_point"] == "model_eval.py"
    assert contract["inputs"] == model_eval.CONTAINER_INPUTS
    assert contract["outputs"] == model_eval.CONTAINER_OUTPUTS
    assert list(contract["env"]) == model_eval.ENV_VARS


def test_scores_the_test_split_and_writes_metrics_and_curves(
    upstream: dict[str, Path], tmp_path: Path
) -> None:
    from sklearn.metrics import roc_auc_score

    metrics = evaluate(upstream["model"], upstream["processed"], tmp_path)

    test = read_table(upstream["processed"] / "test")
    predictions = pd.read_parquet(tmp_path / "eval" / "predictions.parquet")
    assert list(predictions.columns) == ["row_id", "label", "prob"]
    assert predictions["row_id"].tolist() == test["row_id"].tolist()
    assert predictions["prob"].between(0, 1).all()
    assert metrics["roc_auc"] > 0.95
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(test["label"], predictions["prob"]))
    assert metrics["n_samples"] == len(test)
    assert json.loads((tmp_path / "metrics" / "metrics.json").read_text()) == metrics
    for plot in ("roc_curve.png", "pr_curve.png"):
        assert (tmp_path / "metrics" / plot).read_bytes().startswith(PNG_MAGIC)


def test_job_type_picks_its_split(upstream: dict[str, Path], tmp_path: Path) -> None:
    val = read_table(upstream["processed"] / "val")
    write_table(val, tmp_path / "processed" / "calibration")

    metrics = evaluate(
        upstream["model"], tmp_path / "processed", tmp_path / "out", job_type="calibration"
    )

    assert metrics["n_samples"] == len(val)


def test_one_class_split_reports_undefined_auc(upstream: dict[str, Path], tmp_path: Path) -> None:
    test = read_table(upstream["processed"] / "test")
    write_table(test[test["label"] == 1], tmp_path / "processed" / "testing")

    metrics = evaluate(upstream["model"], tmp_path / "processed", tmp_path / "out")

    assert np.isnan(metrics["roc_auc"])
    written = json.loads((tmp_path / "out" / "metrics" / "metrics.json").read_text())
    assert written["roc_auc"] is None and written["accuracy"] > 0.9
    assert (tmp_path / "out" / "metrics" / "roc_curve.png").is_file()


@pytest.mark.parametrize(
    ("env", "drop", "named"),
    [
        ({}, "label", "'label'"),
        ({"ID_FIELD": "customer"}, None, "'customer'"),
        ({}, "mean_radius", "mean_radius"),
    ],
)
def test_bad_inputs_name_the_column(
    upstream: dict[str, Path], tmp_path: Path, env: dict[str, str], drop: str | None, named: str
) -> None:
    test = read_table(upstream["processed"] / "test")
    write_table(test.drop(columns=[drop] if drop else []), tmp_path / "processed" / "test")

    with pytest.raises(StepInputError, match=named):
        evaluate(upstream["model"], tmp_path / "processed", tmp_path / "out", env)


def test_without_matplotlib_plots_are_skipped_with_a_note(
    upstream: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """An image without matplotlib (the scikit-learn one) must not fail the evaluation."""
    import _tabular

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    metrics = evaluate(upstream["model"], upstream["processed"], tmp_path)

    written = json.loads((tmp_path / "metrics" / "metrics.json").read_text())
    assert written.pop(_tabular.PLOTS_SKIPPED) == _tabular.MATPLOTLIB_MISSING
    assert written == metrics
    assert not list((tmp_path / "metrics").glob("*.png"))
    assert "matplotlib is not installed" in capsys.readouterr().out
