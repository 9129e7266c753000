"""Problem types, LightGBM, the model inference steps, DummyTraining and Payload from a trained
model, each run as its step script on real tables (scikit-learn's bundled breast_cancer, wine,
digits and diabetes) through the same mains the runner calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import _tabular
import data_loading
import dummy_training
import inference
import lightgbm_training
import model_calibration
import model_eval
import model_inference
import numpy as np
import package
import pandas as pd
import payload
import pytest
import pytorch_training
import tabular_preprocessing
import xgboost_training
from _tabular import StepInputError

TRAINERS = {
    "xgboost": xgboost_training,
    "lightgbm": lightgbm_training,
    "pytorch": pytorch_training,
}
FAST = {
    "xgboost": {"num_round": 40, "early_stopping_rounds": 10},
    "lightgbm": {"num_boost_round": 40, "early_stopping_rounds": 10, "min_data_in_leaf": 5},
    "pytorch": {"epochs": 60, "lr": 0.01, "batch_size": 32, "hidden_dims": [32, 16]},
}
SOURCES = {
    "binary": "sklearn:breast_cancer",
    "multiclass": "sklearn:wine",
    "regression": "sklearn:diabetes",
}


def load(work: Path, source: str, name: str) -> Path:
    out = work / name
    data_loading.main(
        {},
        {"data": str(out / "data"), "metadata": str(out / "metadata")},
        {"DATA_SOURCE": source, "LABEL_FIELD": "label"},
        {},
    )
    return out


def preprocess(work: Path, loaded: Path, job_type: str, env: dict[str, str] | None = None) -> Path:
    out = work / f"prep_{job_type}"
    tabular_preprocessing.main(
        {"data_input": str(loaded / "data"), "metadata_input": str(loaded / "metadata")},
        {"processed_data": str(out / "data"), "preprocessing_artifacts": str(out / "artifacts")},
        {"LABEL_FIELD": "label", **(env or {})},
        {"job_type": job_type},
    )
    return out


def train(work: Path, framework: str, prep: Path, env: dict[str, str] | None = None) -> Path:
    model = work / f"model_{framework}"
    TRAINERS[framework].main(
        {"input_path": str(prep / "data"), "preprocessing_artifacts": str(prep / "artifacts")},
        {"model_output": str(model), "training_metrics": str(work / "train_metrics")},
        {"LABEL_FIELD": "label", **(env or {})},
        {"hyperparameters": FAST[framework]},
    )
    return model


def evaluate(work: Path, framework: str, model: Path, data: Path, job_type: str) -> dict[str, Any]:
    out = work / f"eval_{framework}_{job_type}"
    model_eval.main(  # one script for the three evaluation step types
        {"model_input": str(model), "processed_data": str(data)},
        {"eval_output": str(out / "eval"), "metrics_output": str(out / "metrics")},
        {"LABEL_FIELD": "label"},
        {"job_type": job_type},
    )
    return {
        "predictions": pd.read_parquet(out / "eval" / "predictions.parquet"),
        "metrics": json.loads((out / "metrics" / "metrics.json").read_text()),
        "dir": out,
    }


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def trained(work: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Every framework x problem type, trained and evaluated on its test split."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for problem, source in SOURCES.items():
        folder = work / problem
        prep = preprocess(folder, load(folder, source, "raw"), "training")
        for framework in TRAINERS:
            model = train(folder, framework, prep)
            out[(framework, problem)] = {
                "model": model,
                "prep": prep,
                **evaluate(folder, framework, model, prep / "data", "testing"),
            }
    return out


# ---------------------------------------------------------------- problem types


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (pd.Series([0, 1, 1, 0]), "binary"),
        (pd.Series(["yes", "no", "no"]), "binary"),
        (pd.Series(["a", "b", "c", "a"]), "multiclass"),
        (pd.Series([0.0, 1.0, 2.0, 6.0]), "multiclass"),  # whole numbers read from a CSV
        (pd.Series(np.arange(100)), "regression"),  # too many distinct values for classes
        (pd.Series([0.5, 1.25, 3.0]), "regression"),
    ],
)
def test_the_problem_type_a_label_suggests(labels: pd.Series, expected: str) -> None:
    assert _tabular.infer_problem_type(labels) == expected


def test_preprocessing_records_the_problem_type_and_keeps_multiclass_labels(work: Path) -> None:
    folder = work / "prep_check"
    raw = load(folder, "sklearn:wine", "raw")
    prep = preprocess(folder, raw, "training")
    artifacts = json.loads((prep / "artifacts" / "preprocessing.json").read_text())
    assert artifacts["problem_type"] == "multiclass"
    assert artifacts["label_mapping"] == {"0": 0, "1": 1, "2": 2}
    # the classes are kept as they are; the training mapping turns them into indices
    train_split = pd.read_parquet(prep / "data" / "train" / "data.parquet")
    assert set(train_split["label"]) == {0, 1, 2}
    forced = preprocess(folder / "forced", raw, "training", {"PROBLEM_TYPE": "regression"})
    artifacts = json.loads((forced / "artifacts" / "preprocessing.json").read_text())
    assert artifacts["problem_type"] == "regression" and artifacts["label_mapping"] == {}


@pytest.mark.parametrize("framework", sorted(TRAINERS))
def test_each_framework_learns_each_problem_type(
    framework: str, trained: dict[tuple[str, str], dict[str, Any]]
) -> None:
    binary = trained[(framework, "binary")]
    assert binary["metrics"]["roc_auc"] > 0.95
    assert list(binary["predictions"].columns) == ["label", "prob"]
    assert (binary["dir"] / "metrics" / "roc_curve.png").stat().st_size > 0

    multiclass = trained[(framework, "multiclass")]
    metrics = multiclass["metrics"]
    assert metrics["accuracy"] > 0.85 and metrics["macro_roc_auc"] > 0.95
    assert metrics["n_classes"] == 3 and set(metrics["per_class"]) == {"0", "1", "2"}
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == metrics["n_samples"]
    assert np.trace(matrix) / matrix.sum() == pytest.approx(metrics["accuracy"])
    predictions = multiclass["predictions"]
    assert list(predictions.columns) == ["label", "prob_0", "prob_1", "prob_2", "prediction"]
    probs = predictions[["prob_0", "prob_1", "prob_2"]].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert (predictions["prediction"] == probs.argmax(axis=1)).all()
    assert (multiclass["dir"] / "metrics" / "confusion_matrix.png").stat().st_size > 0

    regression = trained[(framework, "regression")]
    metrics = regression["metrics"]
    # diabetes is hard on 300 rows; better than the mean (R^2 0) by a margin is what is asked
    assert metrics["r2"] > 0.1 and metrics["rmse"] < 75  # the target's std is ~77
    predictions = regression["predictions"]
    assert list(predictions.columns) == ["label", "prediction"]
    rmse = np.sqrt(np.mean((predictions["prediction"] - predictions["label"]) ** 2))
    assert rmse == pytest.approx(metrics["rmse"])
    assert (regression["dir"] / "metrics" / "predicted_vs_actual.png").stat().st_size > 0


def test_the_model_meta_names_its_framework_and_problem_type(
    trained: dict[tuple[str, str], dict[str, Any]],
) -> None:
    for (framework, problem), result in trained.items():
        meta = json.loads((result["model"] / "model_meta.json").read_text())
        assert (meta["framework"], meta["problem_type"]) == (framework, problem)
        loaded = _tabular.LoadedModel(result["model"])
        assert loaded.problem_type == problem


def test_a_split_missing_a_class_is_scored_against_the_training_classes(
    work: Path, trained: dict[tuple[str, str], dict[str, Any]]
) -> None:
    """A holdout with classes 1 and 2 only, as text: mapped through the training label_mapping,
    not renumbered 0 and 1."""
    model = trained[("xgboost", "multiclass")]["model"]
    test = pd.read_parquet(trained[("xgboost", "multiclass")]["prep"] / "data/test/data.parquet")
    holdout = test[test["label"] != 0].assign(label=lambda d: d["label"].astype(str))
    folder = work / "missing_class" / "holdout"
    _tabular.write_table(holdout, folder)
    result = evaluate(work / "missing_class", "xgboost", model, folder.parent, "holdout")
    assert set(result["predictions"]["label"]) == {1, 2}
    assert result["metrics"]["per_class"]["0"]["support"] == 0
    assert result["metrics"]["accuracy"] > 0.8
    unseen = holdout.assign(label="9")
    _tabular.write_table(unseen, work / "unseen" / "holdout")
    with pytest.raises(StepInputError, match=r"classes \['9'\] the model was not trained on"):
        evaluate(work / "unseen", "xgboost", model, work / "unseen", "holdout")


def test_an_objective_that_does_not_fit_the_label_is_refused() -> None:
    with pytest.raises(
        StepInputError, match="objective='binary:logistic' does not fit a regression"
    ):
        xgboost_training.resolve_hyperparameters({"objective": "binary:logistic"}, "regression")
    with pytest.raises(StepInputError, match="objective='regression' does not fit a multiclass"):
        lightgbm_training.resolve_hyperparameters({"objective": "regression"}, "multiclass")
    with pytest.raises(StepInputError, match="unknown LightGBMTraining hyperparameters"):
        lightgbm_training.resolve_hyperparameters({"num_trees": 5})


def test_a_problem_type_set_on_training_must_agree_with_preprocessing(
    work: Path, trained: dict[tuple[str, str], dict[str, Any]]
) -> None:
    prep = trained[("lightgbm", "multiclass")]["prep"]
    with pytest.raises(StepInputError, match="PROBLEM_TYPE=binary but the preprocessing"):
        train(work / "disagree", "lightgbm", prep, {"PROBLEM_TYPE": "binary"})


# ---------------------------------------------------------------- calibration


def test_multiclass_calibration_is_per_class_and_renormalised(
    work: Path, trained: dict[tuple[str, str], dict[str, Any]]
) -> None:
    source = trained[("xgboost", "multiclass")]["dir"] / "eval"
    out = work / "calibrate_multiclass"
    outputs = {
        "calibration_output": str(out / "calibration"),
        "metrics_output": str(out / "metrics"),
        "calibrated_data": str(out / "calibrated"),
    }
    result = model_calibration.main(
        {"evaluation_data": str(source)}, outputs, {"LABEL_FIELD": "label"}, {}
    )
    calibration = json.loads((out / "calibration" / "calibration.json").read_text())
    assert calibration["problem_type"] == "multiclass" and len(calibration["per_class"]) == 3
    calibrated = pd.read_parquet(out / "calibrated" / "predictions.parquet")
    after = calibrated[[f"calibrated_prob_{k}" for k in range(3)]].to_numpy()
    assert np.allclose(after.sum(axis=1), 1.0)
    raw = calibrated[[f"prob_{k}" for k in range(3)]].to_numpy()
    assert np.allclose(_tabular.apply_calibration(raw, calibration), after)
    assert result["ece_after"] <= result["ece_before"]
    assert result["brier_after"] <= result["brier_before"]
    with pytest.raises(StepInputError, match=r"percentile .* use isotonic or sigmoid"):
        model_calibration.main(
            {"evaluation_data": str(source)},
            outputs,
            {"LABEL_FIELD": "label", "CALIBRATION_METHOD": "percentile"},
            {},
        )


def test_calibrating_a_regression_is_refused(
    work: Path, trained: dict[tuple[str, str], dict[str, Any]]
) -> None:
    source = trained[("lightgbm", "regression")]["dir"] / "eval"
    out = work / "calibrate_regression"
    with pytest.raises(StepInputError, match="calibration applies to classifiers"):
        model_calibration.main(
            {"evaluation_data": str(source)},
            {name: str(out / name) for name in ("c", "m", "d")}
            | {
                "calibration_output": str(out / "c"),
                "metrics_output": str(out / "m"),
                "calibrated_data": str(out / "d"),
            },
            {"LABEL_FIELD": "label"},
            {},
        )


# ---------------------------------------------------------------- inference


INFERENCE = {
    "xgboost": "XGBoostModelInference",
    "lightgbm": "LightGBMModelInference",
    "pytorch": "PyTorchModelInference",
}


@pytest.mark.parametrize("framework", sorted(INFERENCE))
def test_inference_writes_the_evaluation_layout_without_metrics(
    framework: str, work: Path, trained: dict[tuple[str, str], dict[str, Any]]
) -> None:
    from cursus.steps.library import get_step_unit

    unit = get_step_unit(INFERENCE[framework])  # the three step types share one script
    assert unit.spec.contract.entry_point == "model_inference.py"
    assert unit.spec.framework == framework
    step = model_inference
    result = trained[(framework, "multiclass")]
    unlabelled = pd.read_parquet(result["prep"] / "data/test/data.parquet").drop(columns="label")
    _tabular.write_table(unlabelled, work / f"unlabelled_{framework}" / "scoring")
    out = work / f"inference_{framework}"
    metrics = step.main(
        {
            "model_input": str(result["model"]),
            "processed_data": str(work / f"unlabelled_{framework}"),
        },
        {"eval_output": str(out)},
        {"LABEL_FIELD": "label"},
        {"job_type": "scoring"},
    )
    assert metrics == {"n_predictions": float(len(unlabelled)), "labelled": 0.0}
    predictions = pd.read_parquet(out / "predictions.parquet")
    evaluated = result["predictions"]
    assert list(predictions.columns) == [c for c in evaluated.columns if c != "label"]
    assert np.allclose(predictions["prob_0"], evaluated["prob_0"])
    # labelled data: the label is carried (encoded), so calibration can follow inference
    labelled = work / f"inference_labelled_{framework}"
    step.main(
        {"model_input": str(result["model"]), "processed_data": str(result["prep"] / "data")},
        {"eval_output": str(labelled)},
        {"LABEL_FIELD": "label"},
        {"job_type": "testing"},
    )
    assert pd.read_parquet(labelled / "predictions.parquet").equals(evaluated)


# ---------------------------------------------------------------- serving and payloads


def _package(work: Path, model: Path, name: str) -> Path:
    out = work / name
    package.main({"model_input": str(model)}, {"packaged_model": str(out)}, {}, {})
    return out


def test_serving_answers_each_problem_type_in_json_and_csv(
    trained: dict[tuple[str, str], dict[str, Any]],
) -> None:
    for (framework, problem), result in trained.items():
        served = inference.model_fn(str(result["model"]))
        rows = pd.read_parquet(result["prep"] / "data/test/data.parquet").drop(columns="label")
        body = json.dumps({"instances": rows.head(3).to_dict(orient="records")})
        prediction = inference.predict_fn(inference.input_fn(body, "application/json"), served)
        answer = json.loads(inference.output_fn(prediction, "application/json").body)["predictions"]
        expected = result["predictions"].head(3)
        if problem == "multiclass":
            assert list(answer[0]) == ["prob_0", "prob_1", "prob_2", "label", "class"]
            assert [a["label"] for a in answer] == expected["prediction"].tolist()
            assert [a["class"] for a in answer] == [str(v) for v in expected["prediction"]]
        elif problem == "regression":
            assert [a["prediction"] for a in answer] == pytest.approx(expected["prediction"])
        else:
            assert [a["prob"] for a in answer] == pytest.approx(expected["prob"])
        csv_body = inference.output_fn(prediction, "text/csv").body
        assert len(csv_body.strip().splitlines()) == 3, (framework, problem)


def test_payload_from_a_trained_model_answers_as_its_package(
    work: Path, trained: dict[tuple[str, str], dict[str, Any]]
) -> None:
    model = trained[("lightgbm", "multiclass")]["model"]
    packaged = _package(work, model, "lgb_package")
    from_package, from_model = work / "payload_package", work / "payload_model"
    payload.main({"packaged_model": str(packaged)}, {"payload_sample": str(from_package)}, {}, {})
    payload.main({"model_input": str(model)}, {"payload_sample": str(from_model)}, {}, {})
    for name in ("payload.csv", "payload.json"):
        assert (from_model / name).read_text() == (from_package / name).read_text(), name
    by_model = json.loads((from_model / "expected_responses.json").read_text())
    by_package = json.loads((from_package / "expected_responses.json").read_text())
    assert (by_model["model"], by_package["model"]) == ("trained", "packaged")
    assert by_model["responses"] == by_package["responses"]  # no calibration: the same answers
    with pytest.raises(StepInputError, match=r"bind packaged_model .* or model_input"):
        payload.main({}, {"payload_sample": str(work / "payload_none")}, {}, {})


# ---------------------------------------------------------------- DummyTraining


def test_dummy_training_brings_a_model_folder_or_archive_in_as_trained(
    work: Path, trained: dict[tuple[str, str], dict[str, Any]]
) -> None:
    result = trained[("xgboost", "regression")]
    packaged = _package(work, result["model"], "xgb_regression_package")
    for name, source in (("folder", result["model"]), ("archive", packaged / "model.tar.gz")):
        out = work / f"dummy_{name}"
        dummy_training.main(
            {"model_artifacts_input": str(source)},
            {"model_output": str(out)},
            {"MODEL_FRAMEWORK": "xgboost"},
            {},
        )
        assert not (out / "code").exists()
        scored = evaluate(
            work / f"dummy_eval_{name}", "xgboost", out, result["prep"] / "data", "testing"
        )
        assert scored["metrics"]["rmse"] == pytest.approx(result["metrics"]["rmse"])
    with pytest.raises(StepInputError, match="model_framework is 'lightgbm' but the pretrained"):
        dummy_training.main(
            {"model_artifacts_input": str(result["model"])},
            {"model_output": str(work / "dummy_wrong")},
            {"MODEL_FRAMEWORK": "lightgbm"},
            {},
        )
    empty = work / "dummy_empty_source"
    empty.mkdir()
    with pytest.raises(StepInputError, match=r"holds no model_meta\.json"):
        dummy_training.main(
            {"model_artifacts_input": str(empty)}, {"model_output": str(work / "dummy_x")}, {}, {}
        )


def test_lightgbm_copies_the_wheel_it_was_given_into_the_model(tmp_path: Path) -> None:
    """On SageMaker the bundle has wheels/ beside the scripts; the model carries the wheel on."""
    import _model_lightgbm

    wheels = Path(_model_lightgbm.__file__).resolve().parent / "wheels"
    assert not wheels.exists()  # nothing in the library folder itself
    assert _model_lightgbm.copy_wheel_into(tmp_path) is None
    fake = tmp_path / "model_dir" / "wheels" / "lightgbm-4.6.0-py3-none-any.whl"
    fake.parent.mkdir(parents=True)
    fake.write_bytes(b"not a real wheel")
    assert _model_lightgbm.find_wheel(tmp_path / "model_dir") == fake


# ---------------------------------------------------------------- metrics of any predictions


@pytest.mark.parametrize("problem", sorted(SOURCES))
def test_metrics_computation_measures_an_inference_output_as_evaluation_does(
    problem: str, work: Path, trained: dict[tuple[str, str], dict[str, Any]]
) -> None:
    import model_metrics_computation

    result = trained[("lightgbm", problem)]
    out = work / f"metrics_{problem}"
    computed = model_metrics_computation.main(
        {"processed_data": str(result["dir"] / "eval")},
        {"metrics_output": str(out)},
        {"LABEL_FIELD": "label"},
        {},
    )
    written = json.loads((out / "metrics.json").read_text())
    assert written["problem_type"] == problem
    for name, value in result["metrics"].items():
        if isinstance(value, float):
            assert computed[name] == pytest.approx(value), name
    unlabelled = work / f"unlabelled_metrics_{problem}"
    _tabular.write_table(
        pd.read_parquet(result["dir"] / "eval/predictions.parquet").drop(columns="label"),
        unlabelled,
    )
    with pytest.raises(StepInputError, match="no label column 'label'"):
        model_metrics_computation.main(
            {"processed_data": str(unlabelled)}, {"metrics_output": str(out)}, {}, {}
        )


def test_percentile_calibration_maps_scores_to_their_rank(
    work: Path, trained: dict[tuple[str, str], dict[str, Any]]
) -> None:
    """PercentileModelCalibration is ModelCalibration's script with the method its config fixes."""
    from cursus.steps.configs import PercentileModelCalibrationConfig
    from cursus.steps.library import get_step_unit

    unit = get_step_unit("PercentileModelCalibration")
    assert unit.spec.contract.entry_point == "model_calibration.py"
    assert PercentileModelCalibrationConfig().calibration_method == "percentile"
    out = work / "percentile"
    model_calibration.main(
        {"evaluation_data": str(trained[("xgboost", "binary")]["dir"] / "eval")},
        {
            "calibration_output": str(out / "c"),
            "metrics_output": str(out / "m"),
            "calibrated_data": str(out / "d"),
        },
        {"LABEL_FIELD": "label", "CALIBRATION_METHOD": "percentile"},
        {},
    )
    calibrated = pd.read_parquet(out / "d" / "predictions.parquet")
    # the share of scored rows at or below each score, interpolated between fitted quantiles
    ranks = calibrated["prob"].rank(method="max", pct=True).to_numpy()
    gap = np.abs(calibrated["calibrated_prob"].to_numpy() - ranks)
    assert gap.max() <= 1.0 / len(calibrated) + 1e-9
    order = np.argsort(calibrated["prob"].to_numpy())
    assert (np.diff(calibrated["calibrated_prob"].to_numpy()[order]) >= 0).all()


# ---------------------------------------------------------------- model card


def test_the_model_card_shows_metrics_classes_plots_data_and_lineage(
    work: Path, trained: dict[tuple[str, str], dict[str, Any]]
) -> None:
    import model_wiki_generator

    result = trained[("xgboost", "multiclass")]
    out = work / "wiki"
    model_wiki_generator.main(
        {"metrics_output": str(result["dir"] / "metrics"), "model_input": str(result["model"])},
        {"wiki_output": str(out)},
        {"MODEL_NAME": "wine-classes", "AUTHOR": "team-a"},
        {},
    )
    card = (out / "model_card.md").read_text()
    for heading in ("Model", "Performance", "Per class", "Confusion matrix", "Data", "Lineage"):
        assert f"## {heading}\n" in card, heading
    accuracy = result["metrics"]["accuracy"]
    assert f"| accuracy | {accuracy:.4f} |" in card
    assert "| problem type | multiclass |" in card and "| framework | xgboost |" in card
    assert "![confusion_matrix.png](confusion_matrix.png)" in card
    assert (out / "confusion_matrix.png").read_bytes() == (
        result["dir"] / "metrics" / "confusion_matrix.png"
    ).read_bytes()
    page = (out / "model_card.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("data:image/png;base64,") == 2
    assert "<td>wine-classes</td>" in page and "<td>team-a</td>" in page

    alone = work / "wiki_metrics_only"
    model_wiki_generator.main(
        {"metrics_output": str(result["dir"] / "metrics")}, {"wiki_output": str(alone)}, {}, {}
    )
    assert "## Data" not in (alone / "model_card.md").read_text()
    with pytest.raises(StepInputError, match=r"holds no metrics\.json"):
        model_wiki_generator.main(
            {"metrics_output": str(work)}, {"wiki_output": str(work / "wiki_none")}, {}, {}
        )


# ---------------------------------------------------------------- stratified sampling


def test_stratified_sampling_balances_the_train_split_only(work: Path) -> None:
    import stratified_sampling

    folder = work / "stratified"
    prep = preprocess(folder, load(folder, "sklearn:wine", "raw"), "training")
    out = folder / "sampled"
    metrics = stratified_sampling.main(
        {"processed_data": str(prep / "data"), "preprocessing_artifacts": str(prep / "artifacts")},
        {"processed_data": str(out / "data"), "preprocessing_artifacts": str(out / "artifacts")},
        {"LABEL_FIELD": "label", "TARGET_SAMPLE_SIZE": "60", "SAMPLING_STRATEGY": "balanced"},
        {"job_type": "training"},
    )
    sampled = pd.read_parquet(out / "data/train/data.parquet")
    assert sampled["label"].value_counts().to_dict() == {0: 20, 1: 20, 2: 20}
    assert metrics == {"n_before": 124.0, "n_after": 60.0, "n_strata": 3.0}
    for split in ("val", "test"):  # the population, untouched
        assert pd.read_parquet(out / f"data/{split}/data.parquet").equals(
            pd.read_parquet(prep / f"data/{split}/data.parquet")
        )
    original = pd.read_parquet(prep / "data/train/data.parquet")
    assert len(sampled.merge(original)) == 60  # rows drawn, not made up
    # a training step reads the sample and the artifacts it passed on
    model = train(folder, "xgboost", out)
    assert json.loads((model / "training_metrics.json").read_text())["n_train"] == 60

    proportional = folder / "proportional"
    stratified_sampling.main(
        {"processed_data": str(prep / "data")},
        {"processed_data": str(proportional), "preprocessing_artifacts": str(folder / "unused")},
        {"LABEL_FIELD": "label", "TARGET_SAMPLE_SIZE": "40", "SAMPLING_STRATEGY": "proportional"},
        {"job_type": "training"},
    )
    kept = pd.read_parquet(proportional / "train/data.parquet")["label"].value_counts(
        normalize=True
    )
    assert np.allclose(
        kept.sort_index(), original["label"].value_counts(normalize=True).sort_index(), atol=0.05
    )
    with pytest.raises(StepInputError, match="SAMPLING_STRATEGY='random' is not a strategy"):
        stratified_sampling.main(
            {"processed_data": str(prep / "data")},
            {"processed_data": str(folder / "x"), "preprocessing_artifacts": str(folder / "y")},
            {"SAMPLING_STRATEGY": "random"},
            {"job_type": "training"},
        )
