"""Drift monitoring with Evidently: a report on breast_cancer halves, with and without a shift."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from cursus.cli.main import cli
from cursus.mlops.drift import drift_report
from cursus.mlops.project import MLOpsError

# a few columns keep Evidently fast; drift is judged per column, so fewer columns lose nothing
COLUMNS = ["mean radius", "mean texture", "mean smoothness", "mean symmetry", "worst area"]
SHIFTED = ["mean radius", "worst area"]


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two random halves of breast_cancer (same distribution), and the second half with two
    columns shifted by one standard deviation and scaled."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame[[*COLUMNS, "target"]]
    reference = frame.sample(frac=0.5, random_state=3)
    current = frame.drop(reference.index)
    shifted = current.copy()
    for column in SHIFTED:
        shifted[column] = shifted[column] * 1.3 + shifted[column].std()
    root = tmp_path_factory.mktemp("drift")
    (root / "current").mkdir()
    reference.to_csv(root / "reference.csv", index=False)
    current.to_parquet(root / "current" / "data.parquet", index=False)
    shifted.to_parquet(root / "shifted.parquet", index=False)
    return {
        "reference": root / "reference.csv",
        "current": root / "current",
        "shifted": root / "shifted.parquet",
    }


def test_halves_of_one_dataset_do_not_drift(tables: dict[str, Path], tmp_path: Path) -> None:
    summary = drift_report(tables["reference"], tables["current"], tmp_path, exclude=["target"])
    assert summary["drift_detected"] is False
    assert summary["n_columns"] == len(COLUMNS)
    assert summary["drift_share"] < 0.5
    written = json.loads((tmp_path / "drift.json").read_text())
    assert written["drift_share"] == summary["drift_share"]
    assert set(written["columns"]) == set(COLUMNS)
    assert (tmp_path / "drift.html").stat().st_size > 100_000  # Evidently's self-contained page


def test_shifted_columns_drift(tables: dict[str, Path], tmp_path: Path) -> None:
    summary = drift_report(
        tables["reference"], tables["shifted"], tmp_path, threshold=0.4, exclude=["target"]
    )
    assert summary["drift_detected"] is True
    assert set(SHIFTED) <= set(summary["drifted_columns"])
    assert summary["drift_share"] >= 0.4
    for column in SHIFTED:
        test = summary["columns"][column]
        assert test["drifted"] is True and test["method"] and test["score"] is not None


def test_cli_exits_1_on_drift_and_0_without(tables: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["monitor", "drift", "--reference", str(tables["reference"]), "--threshold", "0.4"]
    args += ["--columns", ",".join(COLUMNS)]
    drifted = runner.invoke(
        cli, [*args, "--current", str(tables["shifted"]), "-o", str(tmp_path / "a")]
    )
    assert drifted.exit_code == 1, drifted.output
    assert drifted.output.startswith("DRIFT: ") and "mean radius" in drifted.output
    assert (tmp_path / "a" / "drift.html").is_file()
    calm = runner.invoke(
        cli, [*args, "--current", str(tables["current"]), "-o", str(tmp_path / "b")]
    )
    assert calm.exit_code == 0, calm.output
    assert calm.output.startswith("no drift: ")


def test_bad_inputs_are_reported(tables: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(MLOpsError, match=r"names \['height'\], which the reference data lacks"):
        drift_report(tables["reference"], tables["current"], tmp_path, columns=["height"])
    with pytest.raises(MLOpsError, match="does not exist"):
        drift_report(tmp_path / "nope.csv", tables["current"], tmp_path)
    text = tmp_path / "table.txt"
    text.write_text("a\n1\n")
    with pytest.raises(MLOpsError, match=r"read \.csv or \.parquet files"):
        drift_report(text, tables["current"], tmp_path)
    runner = CliRunner()
    bad = runner.invoke(
        cli,
        ["monitor", "drift", "--reference", str(tables["reference"]), "--current",
         str(tables["current"]), "--columns", "height", "-o", str(tmp_path / "c")],
    )  # fmt: skip
    assert bad.exit_code == 2 and "error: DRIFT_COLUMNS names ['height']" in bad.output


def test_a_processed_tabular_folder_uses_its_train_split(
    tables: dict[str, Path], tmp_path: Path
) -> None:
    processed = tmp_path / "processed"
    reference = pd.read_csv(tables["reference"])
    for split, rows in (("train", reference), ("val", reference.iloc[:10])):
        (processed / split).mkdir(parents=True)
        rows.to_parquet(processed / split / "data.parquet", index=False)
    summary = drift_report(processed, tables["current"], tmp_path / "out", exclude=["target"])
    assert summary["n_rows"]["reference"] == len(reference)
