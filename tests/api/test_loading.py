"""load_dag: a JSON file, a Python file, or the name of a bundled DAG."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cursus.api.dag import PipelineDAG
from cursus.api.loading import bundled_dag_names, bundled_dag_path, load_dag
from cursus.errors import DAGError


def test_bundled_dags_are_listed_and_load_by_name() -> None:
    assert bundled_dag_names() == [
        "lightgbm_e2e",
        "pytorch_e2e",
        "xgboost_e2e",
        "xgboost_multiclass_e2e",
        "xgboost_simple",
    ]
    dag = load_dag("xgboost_simple")
    assert dag.nodes == ["DataLoading_training", "TabularPreprocessing_training", "XGBoostTraining"]
    assert bundled_dag_path("xgboost_simple").name == "xgboost_simple.json"


def test_an_unknown_name_lists_the_bundled_dags() -> None:
    with pytest.raises(DAGError) as info:
        load_dag("xgboost_e3e")
    assert "xgboost_e3e: no such DAG file and no bundled DAG of that name" in str(info.value)
    assert "lightgbm_e2e, pytorch_e2e, xgboost_e2e, xgboost_multiclass_e2e, xgboost_simple" in str(
        info.value
    )
    with pytest.raises(DAGError, match="no bundled DAG named 'nope'"):
        bundled_dag_path("nope")


def test_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    PipelineDAG(
        ["DataLoading", "TabularPreprocessing"], [("DataLoading", "TabularPreprocessing")]
    ).to_json(path)
    assert load_dag(path).edges == [("DataLoading", "TabularPreprocessing")]
    assert load_dag(str(path)).nodes == ["DataLoading", "TabularPreprocessing"]


def test_a_python_file_with_create_dag(tmp_path: Path) -> None:
    path = tmp_path / "my_dag.py"
    path.write_text(
        "from cursus.api.dag import PipelineDAG\n\n"
        "def create_dag():\n"
        "    dag = PipelineDAG()\n"
        "    dag.add_node('DataLoading')\n"
        "    dag.add_node('TabularPreprocessing')\n"
        "    dag.add_edge('DataLoading', 'TabularPreprocessing')\n"
        "    return dag\n"
    )
    before = set(sys.modules)
    dag = load_dag(path)
    assert dag.edges == [("DataLoading", "TabularPreprocessing")]
    assert set(sys.modules) == before  # the user's module is not left behind


def test_a_python_file_with_a_module_level_dag(tmp_path: Path) -> None:
    path = tmp_path / "my_dag.py"
    path.write_text("from cursus.api.dag import PipelineDAG\ndag = PipelineDAG(['Package'])\n")
    assert load_dag(path).nodes == ["Package"]


def test_a_python_file_that_does_not_import(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("def create_dag(:\n    pass\n")
    with pytest.raises(DAGError, match=r"broken\.py: importing it failed: SyntaxError"):
        load_dag(path)


def test_a_python_file_whose_create_dag_fails(tmp_path: Path) -> None:
    path = tmp_path / "fails.py"
    path.write_text("def create_dag():\n    return 1 / 0\n")
    with pytest.raises(DAGError, match=r"fails\.py: create_dag\(\) failed: ZeroDivisionError"):
        load_dag(path)


def test_a_python_file_returning_something_else(tmp_path: Path) -> None:
    path = tmp_path / "other.py"
    path.write_text("def create_dag():\n    return {'nodes': []}\n")
    with pytest.raises(DAGError, match="define `create_dag\\(\\)` returning a PipelineDAG"):
        load_dag(path)


def test_missing_files_and_other_suffixes(tmp_path: Path) -> None:
    with pytest.raises(DAGError, match="no such DAG file"):
        load_dag(tmp_path / "missing.py")
    with pytest.raises(DAGError, match="no such DAG file"):
        load_dag(tmp_path / "missing.json")
    yaml_file = tmp_path / "dag.yaml"
    yaml_file.write_text("dag: {}\n")
    with pytest.raises(DAGError, match=r"dag\.yaml: a DAG file ends in \.json or \.py"):
        load_dag(yaml_file)
