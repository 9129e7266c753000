"""`validate` reads the label of a readable data source and checks it against the problem_type
set on the TabularPreprocessing that reads it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from cursus.api.loading import load_dag
from cursus.cli.main import cli
from cursus.core.config_file import default_configs, save_configs
from cursus.core.planner import validate_files


def _config(tmp_path: Path, source: str, problem_type: str) -> Path:
    configs = default_configs(load_dag("xgboost_simple"), problem_type=problem_type)
    configs["DataLoading_training"].data_source = source
    return save_configs(configs, tmp_path / f"{problem_type}.json")


def test_a_seven_class_label_set_to_binary_fails_at_validate(tmp_path: Path) -> None:
    config = _config(tmp_path, "sklearn:digits?n_class=7", "binary")
    report = validate_files(load_dag("xgboost_simple"), config)
    assert [str(p) for p in report.problems] == [
        "node 'TabularPreprocessing_training': the label column 'label' of node "
        "'DataLoading_training' (sklearn:digits?n_class=7) holds 7 distinct values ['0', '1', "
        "'2', '3', '4', '5', '6'], but problem_type is binary; set problem_type to multiclass (or "
        "regression for a numeric target), or map the label to two classes"
    ]
    result = CliRunner().invoke(cli, ["validate", "xgboost_simple", "-c", str(config)])
    assert result.exit_code == 2 and "holds 7 distinct values" in result.output
    fitting = _config(tmp_path, "sklearn:digits?n_class=7", "multiclass")
    assert validate_files(load_dag("xgboost_simple"), fitting).ok


def test_a_local_file_is_read_and_only_a_fitting_problem_type_passes(tmp_path: Path) -> None:
    data = tmp_path / "rides.csv"
    frame = pd.DataFrame({"distance": [1.5, 2.0, 7.25, 3.0], "label": [3.5, 9.0, 21.75, 11.0]})
    frame.to_csv(data, index=False)
    for problem_type, ok in (("regression", True), ("multiclass", False), ("binary", False)):
        config = _config(tmp_path, str(data), problem_type)
        report = validate_files(load_dag("xgboost_simple"), config)
        assert report.ok is ok, (problem_type, [str(p) for p in report.problems])
        if not ok:
            assert str(data) in str(report.problems[0])


def test_sources_not_readable_here_are_left_to_the_step(tmp_path: Path) -> None:
    config = _config(tmp_path, "s3://bucket/data.csv", "regression")
    assert validate_files(load_dag("xgboost_simple"), config).ok
