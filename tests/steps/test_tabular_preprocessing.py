"""TabularPreprocessing cleans the label, splits stratified train/val/test and fits the transforms on
the train split only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tabular_preprocessing
import yaml
from _tabular import StepInputError, read_table, save_json, write_table

SPEC = (
    Path(__file__).resolve().parents[2] / "src/cursus/steps/library/tabular_preprocessing.step.yaml"
)
ENV = {"LABEL_FIELD": "diagnosis", "ID_FIELD": "patient", "RANDOM_SEED": "0"}


def raw_table(n_unlabelled: int = 9) -> pd.DataFrame:
    """breast_cancer as a raw extract would look: text labels, an id, a text column, some gaps."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    rng = np.random.default_rng(0)
    df = bunch.data.iloc[:, :4].copy()
    df.columns = ["radius", "texture", "perimeter", "area"]
    df.loc[rng.choice(len(df), 40, replace=False), "texture"] = np.nan
    df.insert(0, "patient", [f"p{i:04d}" for i in range(len(df))])
    df["clinic"] = rng.choice(["east", "west", "north"], len(df))
    df["diagnosis"] = np.where(bunch.target == 1, "benign", "malignant").astype(object)
    df.loc[rng.choice(len(df), n_unlabelled, replace=False), "diagnosis"] = None
    return df


def run(
    df: pd.DataFrame, out: Path, env: dict[str, str] | None = None, job_type: str = "training"
) -> tuple[dict[str, float], Path, dict]:
    write_table(df, out / "raw")
    outputs = {
        "processed_data": str(out / "processed"),
        "preprocessing_artifacts": str(out / "artifacts"),
    }
    metrics = tabular_preprocessing.main(
        {"data_input": str(out / "raw")},
        outputs,
        env if env is not None else ENV,
        {"job_type": job_type},
    )
    artifacts = json.loads((out / "artifacts" / "preprocessing.json").read_text())
    return metrics, out / "processed", artifacts


def test_contract_matches_spec() -> None:
    contract = yaml.safe_load(SPEC.read_text())["contract"]
    assert contract["inputs"] == tabular_preprocessing.CONTAINER_INPUTS
    assert contract["outputs"] == tabular_preprocessing.CONTAINER_OUTPUTS
    assert list(contract["env"]) == tabular_preprocessing.ENV_VARS


def test_training_split_is_stratified_and_complete(tmp_path: Path) -> None:
    raw = raw_table()
    metrics, processed, artifacts = run(raw, tmp_path)

    splits = {name: read_table(processed / name) for name in ("train", "val", "test")}
    labelled = raw[raw["diagnosis"].notna()]
    n = len(labelled)
    assert sorted(p.name for p in processed.iterdir()) == ["test", "train", "val"]
    assert len(splits["train"]) == int(0.7 * n)
    assert abs(len(splits["val"]) - len(splits["test"])) <= 1
    assert metrics["n_train"] + metrics["n_val"] + metrics["n_test"] == n
    ids = pd.concat([s["patient"] for s in splits.values()])
    assert ids.is_unique and set(ids) == set(labelled["patient"])

    overall = (labelled["diagnosis"] == "malignant").mean()
    for split in splits.values():
        assert split["diagnosis"].dtype == np.int64
        assert abs(split["diagnosis"].mean() - overall) < 0.03

    assert artifacts["label_mapping"] == {"benign": 0, "malignant": 1}
    truth = labelled.set_index("patient")["diagnosis"].map({"benign": 0, "malignant": 1})
    train = splits["train"].set_index("patient")["diagnosis"]
    assert train.equals(truth.loc[train.index])


def test_transforms_are_fitted_on_train_only(tmp_path: Path) -> None:
    _, processed, artifacts = run(raw_table(), tmp_path)
    train = read_table(processed / "train")

    assert artifacts["fitted"] is True
    assert artifacts["features"] == ["radius", "texture", "perimeter", "area", "clinic"]
    assert artifacts["id_field"] == "patient"
    for column in ("radius", "texture", "perimeter", "area"):
        assert artifacts["numeric_impute"][column] == pytest.approx(train[column].median())
    assert artifacts["categories"] == {"clinic": ["east", "north", "west"]}
    assert train["texture"].isna().any(), "features are left raw; imputation happens downstream"


def test_categorical_columns_can_be_declared(tmp_path: Path) -> None:
    raw = raw_table().assign(stage=lambda d: np.arange(len(d)) % 3 + 1)
    env = {**ENV, "CATEGORICAL_COLUMNS": '["clinic", "stage"]'}
    _, _, artifacts = run(raw, tmp_path, env)

    assert artifacts["categories"]["stage"] == ["1", "2", "3"]
    assert "stage" not in artifacts["numeric_impute"]


def test_feature_columns_keep_only_those_features(tmp_path: Path) -> None:
    raw = raw_table().assign(leak=lambda d: d["diagnosis"], date="2025-01-01")
    env = {**ENV, "FEATURE_COLUMNS": '["radius", "clinic", "diagnosis"]'}
    _, out, artifacts = run(raw, tmp_path, env)
    assert sorted(artifacts["features"]) == ["clinic", "radius"]  # the label is never a feature
    train = read_table(out / "train")
    assert sorted(train.columns) == ["clinic", "diagnosis", "patient", "radius"]


def test_same_seed_same_split_other_seed_other_split(tmp_path: Path) -> None:
    raw = raw_table()
    run(raw, tmp_path / "a")
    run(raw, tmp_path / "b")
    run(raw, tmp_path / "c", {**ENV, "RANDOM_SEED": "1"})

    def test_ids(name: str) -> list[str]:
        return read_table(tmp_path / name / "processed" / "test")["patient"].tolist()

    assert test_ids("a") == test_ids("b") != test_ids("c")


def test_ratios_come_from_the_environment(tmp_path: Path) -> None:
    metrics, _, _ = run(
        raw_table(0), tmp_path, {**ENV, "TRAIN_RATIO": "0.5", "TEST_VAL_RATIO": "0.2"}
    )

    assert metrics["n_train"] == 284
    assert metrics["n_test"] == pytest.approx(0.2 * 285, abs=1)
    assert metrics["n_val"] == 285 - metrics["n_test"]


def test_schema_supplies_label_and_id_defaults(tmp_path: Path) -> None:
    schema = {"label_field": "diagnosis", "id_field": "patient", "columns": [], "n_rows": 0}
    save_json(schema, tmp_path / "metadata" / "schema.json")
    write_table(raw_table(), tmp_path / "raw")
    outputs = {
        "processed_data": str(tmp_path / "p"),
        "preprocessing_artifacts": str(tmp_path / "a"),
    }

    tabular_preprocessing.main(
        {"data_input": str(tmp_path / "raw"), "metadata_input": str(tmp_path / "metadata")},
        outputs,
        {},
        {"job_type": "training"},
    )

    artifacts = json.loads((tmp_path / "a" / "preprocessing.json").read_text())
    assert (artifacts["label_field"], artifacts["id_field"]) == ("diagnosis", "patient")
    assert "patient" not in artifacts["features"]


def test_other_job_types_clean_without_splitting_or_fitting(tmp_path: Path) -> None:
    raw = raw_table()
    metrics, processed, artifacts = run(raw, tmp_path, job_type="calibration")

    assert [p.name for p in processed.iterdir()] == ["calibration"]
    cleaned = read_table(processed / "calibration")
    assert len(cleaned) == raw["diagnosis"].notna().sum() == metrics["n_calibration"]
    assert set(cleaned["diagnosis"]) == {0, 1}
    assert artifacts["fitted"] is False
    assert artifacts["label_mapping"] == {"benign": 0, "malignant": 1}


def test_a_zero_one_label_keeps_its_meaning_when_one_class_is_absent(tmp_path: Path) -> None:
    only_positives = pd.DataFrame({"x": [0.1, 0.2, 0.3], "y": [1.0, 1.0, np.nan]})
    _, processed, artifacts = run(only_positives, tmp_path, {"LABEL_FIELD": "y"}, "scoring")

    assert artifacts["label_mapping"] == {"0": 0, "1": 1}
    assert read_table(processed / "scoring")["y"].tolist() == [1, 1]


@pytest.mark.parametrize(
    ("change", "env", "named"),
    [
        (
            lambda d: d.assign(diagnosis=np.arange(len(d)) % 3),
            {"PROBLEM_TYPE": "binary"},
            "3 distinct values .* but problem_type is binary; set problem_type to multiclass",
        ),
        (lambda d: d, {"PROBLEM_TYPE": "ranking"}, "PROBLEM_TYPE='ranking' is not a problem type"),
        (
            lambda d: d.assign(diagnosis=np.where(d["diagnosis"] == 1, "yes", "no")),
            {"PROBLEM_TYPE": "regression"},
            "holds text values .* but problem_type is regression",
        ),
        (
            lambda d: d.assign(diagnosis=np.linspace(0, 1, len(d))),
            {"PROBLEM_TYPE": "multiclass"},
            "numbers with fractions, which are not classes",
        ),
        (lambda d: d.drop(columns="diagnosis"), {}, "'diagnosis'"),
        (lambda d: d, {"ID_FIELD": "mrn"}, "'mrn'"),
        (lambda d: d, {"CATEGORICAL_COLUMNS": '["region"]'}, "region"),
        (lambda d: d, {"CATEGORICAL_COLUMNS": '"clinic"'}, "JSON list"),
        (lambda d: d, {"FEATURE_COLUMNS": '["radius", "weight"]'}, r"names columns \['weight'\]"),
        (lambda d: d, {"FEATURE_COLUMNS": '"radius"'}, "FEATURE_COLUMNS must be a JSON list"),
        (lambda d: d, {"TRAIN_RATIO": "1.2"}, "TRAIN_RATIO"),
        (lambda d: d.groupby("diagnosis").head(2), {}, "stratified"),
        (lambda d: d.assign(diagnosis="benign"), {}, "only the value"),
    ],
)
def test_bad_inputs_name_the_problem(
    tmp_path: Path, change, env: dict[str, str], named: str
) -> None:
    with pytest.raises(StepInputError, match=named):
        run(change(raw_table()), tmp_path, {**ENV, **env})
