"""TemporalSplitPreprocessing: an out-of-time test split and a train/val split by entity, on
breast_cancer given what a real event table has: a date per row and customers with several rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import temporal_split_preprocessing
from _tabular import StepInputError, read_table, write_table

SPLIT_DATE = "2024-10-01"


def event_table(seed: int = 0) -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    rng = np.random.default_rng(seed)
    df = bunch.data.iloc[:, :6].copy()
    df.columns = [c.replace(" ", "_") for c in df.columns]
    df.insert(0, "customer", [f"c{i:03d}" for i in rng.integers(0, 120, len(df))])
    days = rng.integers(0, 365, len(df))
    df.insert(
        1, "event_date", (pd.Timestamp("2024-01-01") + pd.to_timedelta(days, "D")).astype(str)
    )
    df["label"] = bunch.target.to_numpy()
    return df


def run(df: pd.DataFrame, out: Path, **env: str) -> tuple[dict, dict, Path]:
    write_table(df, out / "raw")
    outputs = {
        "processed_data": str(out / "processed"),
        "preprocessing_artifacts": str(out / "artifacts"),
    }
    settings = {"DATE_FIELD": "event_date", "GROUP_ID_FIELD": "customer", **env}
    metrics = temporal_split_preprocessing.main(
        {"data_input": str(out / "raw")}, outputs, settings, {"job_type": "training"}
    )
    artifacts = json.loads((out / "artifacts" / "preprocessing.json").read_text())
    return metrics, artifacts, out / "processed"


def test_rows_from_the_split_date_on_are_the_holdout_and_no_customer_is_in_train_and_val(tmp_path):
    df = event_table()
    metrics, artifacts, processed = run(df, tmp_path, SPLIT_DATE=SPLIT_DATE, TRAIN_RATIO="0.75")
    train, val, test = (read_table(processed / s) for s in ("train", "val", "test"))
    assert len(train) + len(val) + len(test) == len(df)
    assert (pd.to_datetime(test["event_date"]) >= SPLIT_DATE).all()
    assert (pd.to_datetime(pd.concat([train, val])["event_date"]) < SPLIT_DATE).all()
    assert not set(train["customer"]) & set(val["customer"])
    share = metrics["n_train_entities"] / (metrics["n_train_entities"] + metrics["n_val_entities"])
    assert share == pytest.approx(0.75, abs=0.02)
    # customers keep coming back: the holdout has some the model trained on, and says how many
    assert metrics["oot_entities_seen_in_train"] == len(
        set(test["customer"]) & set(train["customer"])
    )
    # the date and the customer are kept in the tables but are not features
    assert {"event_date", "customer"} <= set(train.columns)
    assert not {"event_date", "customer"} & set(artifacts["features"])
    assert artifacts["fitted"] and artifacts["temporal_split"]["oot_start"].startswith(SPLIT_DATE)


def test_without_a_split_date_the_latest_dates_are_held_out(tmp_path):
    metrics, artifacts, processed = run(event_table(), tmp_path, OOT_FRACTION="0.25")
    dates = pd.to_datetime(read_table(processed / "test")["event_date"])
    start = pd.Timestamp(artifacts["temporal_split"]["oot_start"]).tz_localize(None)
    assert dates.min() == start
    assert metrics["n_test"] / 569 == pytest.approx(0.25, abs=0.05)


@pytest.mark.parametrize(
    ("change", "env", "message"),
    [
        (lambda d: d.drop(columns="event_date"), {}, "DATE_FIELD column 'event_date' is not"),
        (lambda d: d.assign(event_date="soon"), {}, "are not dates .*'soon'"),
        (lambda d: d, {"SPLIT_DATE": "2030-01-01"}, "leaves no out-of-time rows"),
        (lambda d: d, {"GROUP_ID_FIELD": "account"}, "GROUP_ID_FIELD column 'account'"),
    ],
)
def test_bad_settings_say_what_to_fix(tmp_path, change, env, message):
    with pytest.raises(StepInputError, match=message):
        run(change(event_table()), tmp_path, **env)
