"""MissingValueImputation, RiskTableMapping, FeatureSelection and CurrencyConversion: fitted on the
training split, applied with the saved artifacts to the other job types and inside the model.

The table is breast_cancer with what real extracts have and it lacks: missing cells, a category
that tracks the label, a rare category, a currency column with amounts in two currencies.
"""

from __future__ import annotations

import json
from pathlib import Path

import _tabular
import currency_conversion
import feature_selection
import missing_value_imputation
import numpy as np
import pandas as pd
import pytest
import risk_table_mapping
import tabular_preprocessing
from _tabular import StepInputError, read_table, write_table

LABEL = "label"
RATES = {"EUR": 1.25, "USD": 1.0}


def real_table(seed: int = 0) -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    rng = np.random.default_rng(seed)
    df = bunch.data.iloc[:, :8].copy()
    df.columns = [c.replace(" ", "_") for c in df.columns]
    y = bunch.target.to_numpy()
    # a category that tracks the label (80% of the time), and one level seen only 3 times
    agree = rng.random(len(df)) < 0.8
    df["segment"] = np.where(agree == (y == 1), "retail", "wholesale").astype(object)
    df.loc[rng.choice(len(df), 3, replace=False), "segment"] = "rare"
    df["region"] = rng.choice(["north", "south", "east"], len(df)).astype(object)
    # a price quoted in EUR or USD: the same USD value either way
    usd = np.round(rng.uniform(10, 100, len(df)) + 30 * y, 2)
    df["currency"] = rng.choice(["EUR", "USD"], len(df)).astype(object)
    df["price"] = np.where(df["currency"] == "EUR", usd / RATES["EUR"], usd)
    for column in ("mean_texture", "mean_area", "region"):
        df.loc[rng.choice(len(df), 40, replace=False), column] = np.nan
    df[LABEL] = y
    return df


def preprocess(df: pd.DataFrame, out: Path, job_type: str = "training") -> dict[str, str]:
    write_table(df, out / "raw")
    outputs = {
        "processed_data": str(out / "processed"),
        "preprocessing_artifacts": str(out / "artifacts"),
    }
    tabular_preprocessing.main(
        {"data_input": str(out / "raw")}, outputs, {"RANDOM_SEED": "0"}, {"job_type": job_type}
    )
    return outputs


def transform(module, inputs: dict[str, str], out: Path, env=None, job_type="training"):
    outputs = {
        "processed_data": str(out / "processed"),
        "preprocessing_artifacts": str(out / "artifacts"),
    }
    metrics = module.main(inputs, outputs, env or {}, {"job_type": job_type})
    return metrics, outputs


def artifacts_of(outputs: dict[str, str]) -> dict:
    return json.loads((Path(outputs["preprocessing_artifacts"]) / "preprocessing.json").read_text())


@pytest.fixture(scope="module")
def halves(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = real_table()
    order = np.random.default_rng(1).permutation(len(df))
    return df.iloc[order[:400]].reset_index(drop=True), df.iloc[order[400:]].reset_index(drop=True)


def test_imputation_fills_every_split_with_values_fitted_on_train_only(tmp_path, halves):
    train_raw, holdout_raw = halves
    fitted_on = preprocess(train_raw, tmp_path / "tp")
    env = {
        "COLUMN_STRATEGIES": json.dumps({"mean_area": "mean", "region": "constant"}),
        "FILL_VALUES": json.dumps({"region": "unknown"}),
    }
    metrics, imputed = transform(missing_value_imputation, fitted_on, tmp_path / "mvi", env)
    assert metrics["fitted"] == 1.0
    train = read_table(Path(fitted_on["processed_data"]) / "train")
    (chain_entry,) = artifacts_of(imputed)["transforms"]
    values = chain_entry["values"]
    assert values["mean_texture"] == pytest.approx(train["mean_texture"].median())  # default
    assert values["mean_area"] == pytest.approx(train["mean_area"].mean())  # per column
    assert values["region"] == "unknown"  # constant, named
    assert values["segment"] == train["segment"].mode()[0]  # categories: mode
    for split in ("train", "val", "test"):
        out = read_table(Path(imputed["processed_data"]) / split)
        assert not out[["mean_texture", "mean_area", "region"]].isna().any().any()
        assert out.attrs[_tabular.APPLIED] == [chain_entry["id"]]
    # a constant that was not a category becomes one, so it gets its own code
    assert "unknown" in artifacts_of(imputed)["categories"]["region"]

    # another job type: filled with the training values, not its own
    other = preprocess(holdout_raw, tmp_path / "tp_eval", job_type="calibration")
    inputs = {**other, "preprocessing_artifacts": imputed["preprocessing_artifacts"]}
    _, applied = transform(
        missing_value_imputation, inputs, tmp_path / "mvi_eval", env, "calibration"
    )
    before = read_table(Path(other["processed_data"]) / "calibration")
    after = read_table(Path(applied["processed_data"]) / "calibration")
    gaps = before["mean_texture"].isna()
    assert gaps.any()
    assert (after.loc[gaps, "mean_texture"] == values["mean_texture"]).all()
    assert values["mean_texture"] != pytest.approx(before["mean_texture"].median())


def test_imputation_refuses_a_mean_of_categories_and_unfitted_artifacts(tmp_path, halves):
    fitted_on = preprocess(halves[0], tmp_path / "tp")
    env = {"COLUMN_STRATEGIES": json.dumps({"segment": "mean"})}
    with pytest.raises(StepInputError, match="'segment' is categorical; mean needs numbers"):
        transform(missing_value_imputation, fitted_on, tmp_path / "a", env)
    other = preprocess(halves[1], tmp_path / "tp_eval", job_type="calibration")
    with pytest.raises(StepInputError, match=r"was not fitted .* MissingValueImputation_training"):
        transform(missing_value_imputation, other, tmp_path / "b", job_type="calibration")


def test_risk_tables_are_smoothed_label_rates_with_rare_levels_at_the_prior(tmp_path, halves):
    fitted_on = preprocess(halves[0], tmp_path / "tp")
    _, imputed = transform(missing_value_imputation, fitted_on, tmp_path / "mvi")
    env = {"SMOOTH_FACTOR": "0.05", "COUNT_THRESHOLD": "5"}
    _, mapped = transform(risk_table_mapping, imputed, tmp_path / "rtm", env)
    train = read_table(Path(imputed["processed_data"]) / "train")
    prior = train[LABEL].mean()
    m = 0.05 * len(train)
    table = artifacts_of(mapped)["transforms"][-1]["tables"]["segment"]
    retail = train[train["segment"] == "retail"][LABEL]
    expected = (retail.sum() + m * prior) / (len(retail) + m)
    assert table["risk"]["retail"] == pytest.approx(expected)
    assert "rare" not in table["risk"] and table["default"] == pytest.approx(prior)
    out = read_table(Path(mapped["processed_data"]) / "train")
    assert out["segment"].dtype == np.float64
    assert out.loc[train["segment"] == "rare", "segment"].eq(prior).all()
    # the mapped columns are numbers to the model from here on
    encoding = artifacts_of(mapped)
    assert "segment" not in encoding["categories"] and "segment" in encoding["numeric_impute"]
    # the risk of the label-tracking category separates the classes
    assert table["risk"]["retail"] > prior > table["risk"]["wholesale"]


def test_risk_tables_refuse_a_multiclass_label(tmp_path):
    df = real_table()
    df[LABEL] = np.random.default_rng(0).integers(0, 3, len(df))
    fitted_on = preprocess(df, tmp_path / "tp")
    with pytest.raises(StepInputError, match="multiclass label"):
        transform(risk_table_mapping, fitted_on, tmp_path / "rtm")


@pytest.mark.parametrize("strategy", ["voting", "rank", "union", "intersection"])
def test_feature_selection_keeps_what_the_methods_agree_on(tmp_path, halves, strategy):
    fitted_on = preprocess(halves[0], tmp_path / "tp")
    _, imputed = transform(missing_value_imputation, fitted_on, tmp_path / "mvi")
    _, mapped = transform(risk_table_mapping, imputed, tmp_path / "rtm")
    env = {
        "N_FEATURES_TO_SELECT": "4",
        "COMBINATION_STRATEGY": strategy,
        "SELECTION_METHODS": json.dumps(["correlation", "mutual_info", "random_forest", "lasso"]),
    }
    metrics, selected = transform(feature_selection, mapped, tmp_path / "fs", env)
    keep = artifacts_of(selected)["transforms"][-1]["keep"]
    assert artifacts_of(selected)["features"] == keep
    if strategy in ("voting", "rank"):
        assert len(keep) == 4 == metrics["n_selected"]
    # region is noise; the tumour size features carry the signal
    assert "region" not in keep and {"mean_radius", "mean_perimeter", "mean_area"} & set(keep)
    # of radius, perimeter and area (correlated > 0.95) at most one survives
    assert len({"mean_radius", "mean_perimeter", "mean_area"} & set(keep)) == 1
    out = read_table(Path(selected["processed_data"]) / "val")
    assert set(out.columns) == {*keep, LABEL}


def test_feature_selection_names_an_unknown_method(tmp_path, halves):
    fitted_on = preprocess(halves[0], tmp_path / "tp")
    with pytest.raises(StepInputError, match=r"unknown: \['boruta'\]"):
        transform(feature_selection, fitted_on, tmp_path / "fs", {"SELECTION_METHODS": "boruta"})


def currency_env() -> dict[str, str]:
    return {
        "CURRENCY_FIELD": "currency",
        "AMOUNT_FIELDS": json.dumps(["price"]),
        "EXCHANGE_RATES": json.dumps({"EUR": RATES["EUR"]}),
    }


def test_currency_conversion_puts_every_amount_in_the_target_currency(tmp_path, halves):
    train_raw, holdout_raw = halves
    fitted_on = preprocess(train_raw, tmp_path / "tp")
    _, converted = transform(currency_conversion, fitted_on, tmp_path / "cc", currency_env())
    before = read_table(Path(fitted_on["processed_data"]) / "train")
    after = read_table(Path(converted["processed_data"]) / "train")
    eur = before["currency"] == "EUR"
    assert after.loc[eur, "price"].to_numpy() == pytest.approx(
        before.loc[eur, "price"].to_numpy() * RATES["EUR"]
    )
    assert (after.loc[~eur, "price"] == before.loc[~eur, "price"]).all()
    # the imputation of a converted amount is refitted in the target currency
    assert artifacts_of(converted)["numeric_impute"]["price"] == pytest.approx(
        after["price"].median()
    )
    # a code without a rate is named
    holdout_raw = holdout_raw.copy()
    holdout_raw.loc[0, "currency"] = "GBP"
    other = preprocess(holdout_raw, tmp_path / "tp_eval", job_type="calibration")
    inputs = {**other, "preprocessing_artifacts": converted["preprocessing_artifacts"]}
    with pytest.raises(StepInputError, match=r"no exchange rate for currency \['GBP'\]"):
        transform(currency_conversion, inputs, tmp_path / "cc_eval", job_type="calibration")


# ---------------------------------------------------------------- end to end, and in the model

CHAIN_DAG = {
    "nodes": [
        "DataLoading_training",
        "TabularPreprocessing_training",
        "CurrencyConversion_training",
        "MissingValueImputation_training",
        "RiskTableMapping_training",
        "FeatureSelection_training",
        "XGBoostTraining",
        "DataLoading_calibration",
        "TabularPreprocessing_calibration",
        "CurrencyConversion_calibration",
        "MissingValueImputation_calibration",
        "RiskTableMapping_calibration",
        "FeatureSelection_calibration",
        "XGBoostModelEval_calibration",
    ],
    "edges": [
        ["DataLoading_training", "TabularPreprocessing_training"],
        ["TabularPreprocessing_training", "CurrencyConversion_training"],
        ["CurrencyConversion_training", "MissingValueImputation_training"],
        ["MissingValueImputation_training", "RiskTableMapping_training"],
        ["RiskTableMapping_training", "FeatureSelection_training"],
        ["FeatureSelection_training", "XGBoostTraining"],
        ["DataLoading_calibration", "TabularPreprocessing_calibration"],
        ["TabularPreprocessing_calibration", "CurrencyConversion_calibration"],
        ["CurrencyConversion_calibration", "MissingValueImputation_calibration"],
        ["MissingValueImputation_calibration", "RiskTableMapping_calibration"],
        ["RiskTableMapping_calibration", "FeatureSelection_calibration"],
        ["FeatureSelection_calibration", "XGBoostModelEval_calibration"],
        ["CurrencyConversion_training", "CurrencyConversion_calibration"],
        ["MissingValueImputation_training", "MissingValueImputation_calibration"],
        ["RiskTableMapping_training", "RiskTableMapping_calibration"],
        ["FeatureSelection_training", "FeatureSelection_calibration"],
        ["XGBoostTraining", "XGBoostModelEval_calibration"],
    ],
}


def test_the_chain_runs_as_a_pipeline_and_the_model_scores_raw_rows_alike(tmp_path, halves):
    """Every transform node wires without bindings (data from its own job type, the fit from
    _training); the model trained on the transformed rows, given the raw holdout rows, applies
    the whole chain itself and scores them exactly as the evaluation scored the transformed ones:
    nothing is transformed twice or left out."""
    from cursus.api.loading import load_dag
    from cursus.core.config_file import default_configs
    from cursus.targets import run_pipeline

    train_raw, holdout_raw = halves
    train_raw.to_csv(tmp_path / "train.csv", index=False)
    holdout_raw.to_csv(tmp_path / "holdout.csv", index=False)
    (tmp_path / "dag.json").write_text(json.dumps({"dag": CHAIN_DAG}))
    dag = load_dag(tmp_path / "dag.json")
    configs = default_configs(dag)
    edits = {
        "DataLoading_training": {"data_source": str(tmp_path / "train.csv")},
        "DataLoading_calibration": {"data_source": str(tmp_path / "holdout.csv")},
        "CurrencyConversion_training": {
            "amount_fields": ["price"],
            "exchange_rates": {"EUR": RATES["EUR"]},
        },
        "FeatureSelection_training": {"n_features_to_select": 6},
        "XGBoostTraining": {"hyperparameters": {"num_round": 30}},
    }
    for node, values in edits.items():
        configs[node] = type(configs[node]).model_validate({**configs[node].model_dump(), **values})
    result = run_pipeline(dag, configs, workspace=tmp_path / "ws", tracking=False, lineage=False)
    assert result.ok, {n: s.error for n, s in result.steps.items() if s.error}
    evaluation = result.steps["XGBoostModelEval_calibration"]
    assert evaluation.metrics["roc_auc"] > 0.9

    model = _tabular.LoadedModel(result.steps["XGBoostTraining"].outputs["model_output"])
    kinds = [t["kind"] for t in _tabular.transform_chain(model.preprocessing)]
    assert kinds == ["currency", "impute", "risk_table", "select"]
    scored = pd.read_parquet(Path(evaluation.outputs["eval_output"]) / "predictions.parquet")
    raw = holdout_raw.drop(columns=[LABEL])  # straight from the file: no transform applied
    assert model.predict_proba(raw) == pytest.approx(scored["prob"].to_numpy(), abs=1e-6)

    # a request priced in EUR scores as the same price in USD would
    row = raw.iloc[[0]].copy()
    eur, usd = row.assign(currency="EUR", price=80.0), row.assign(currency="USD", price=100.0)
    assert model.predict_proba(eur) == pytest.approx(model.predict_proba(usd))
