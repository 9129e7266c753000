"""The DriftCheck step type: spec + config + script, bound on evidence, run by the local runner."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

# The runner's fork server keeps the environment it started with: set before any run.
os.environ["OMP_NUM_THREADS"] = "1"

import pandas as pd
import pytest
import yaml

from cursus.api.dag import PipelineDAG
from cursus.backends.local import LocalRunner
from cursus.core.compiler import PipelineDAGCompiler
from cursus.core.config_file import default_configs, save_configs
from cursus.errors import CursusError
from cursus.steps.configs import DriftCheckConfig
from cursus.steps.library import BUNDLED_LIBRARY as SCRIPTS_DIR
from cursus.steps.library import get_step_unit

SPECS_DIR = SCRIPTS_DIR

COLUMNS = ["mean_radius", "mean_texture", "mean_smoothness", "worst_area"]
NODES = [
    "DataLoading_training",
    "TabularPreprocessing_training",
    "DataLoading_calibration",
    "DriftCheck",
]
EDGES = [
    ("DataLoading_training", "TabularPreprocessing_training"),
    ("TabularPreprocessing_training", "DriftCheck"),
    ("DataLoading_calibration", "DriftCheck"),
]


def _script():
    if str(SCRIPTS_DIR) not in sys.path:
        sys.path.append(str(SCRIPTS_DIR))
    spec = importlib.util.spec_from_file_location(
        "drift_check_under_test", SCRIPTS_DIR / "drift_check.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config(tmp_path: Path, dag: PipelineDAG, **edits: dict) -> Path:
    configs = default_configs(dag, pipeline_name="drift-step")
    for node, fields in edits.items():
        for name, value in fields.items():
            setattr(configs[node], name, value)
    return save_configs(configs, tmp_path / "config.json")


def test_script_constants_equal_the_spec_and_the_config_has_the_fields() -> None:
    script = _script()
    contract = yaml.safe_load((SPECS_DIR / "drift_check.step.yaml").read_text())["contract"]
    assert contract["entry_point"] == "drift_check.py"
    assert contract["inputs"] == script.CONTAINER_INPUTS
    assert contract["outputs"] == script.CONTAINER_OUTPUTS
    assert list(contract["env"]) == script.ENV_VARS
    step = get_step_unit("DriftCheck")
    assert step.config_class is DriftCheckConfig
    assert DriftCheckConfig().drift_threshold == 0.5 and DriftCheckConfig().fail_on_drift is False
    with pytest.raises(ValueError, match="drift_threshold"):
        DriftCheckConfig(drift_threshold=1.5)


def test_the_resolver_binds_reference_to_processed_data_and_current_to_loaded_data(
    tmp_path: Path,
) -> None:
    dag = PipelineDAG(nodes=NODES, edges=EDGES)
    plan = PipelineDAGCompiler(_config(tmp_path, dag)).compile_to_plan(dag)
    inputs = plan.step("DriftCheck").inputs
    assert (inputs["reference_data"]["from_step"], inputs["reference_data"]["output"]) == (
        "TabularPreprocessing_training",
        "processed_data",
    )
    assert (inputs["current_data"]["from_step"], inputs["current_data"]["output"]) == (
        "DataLoading_calibration",
        "data",
    )


def test_one_data_loading_never_feeds_both_sides(tmp_path: Path) -> None:
    """Kind alone never binds: a reference must come from processed data or be bound explicitly."""
    dag = PipelineDAG(nodes=["DataLoading", "DriftCheck"], edges=[("DataLoading", "DriftCheck")])
    with pytest.raises(CursusError, match="required input 'reference_data'"):
        PipelineDAGCompiler(_config(tmp_path, dag)).compile_to_plan(dag)


def test_a_dag_with_drift_check_runs_locally(tmp_path: Path) -> None:
    dag = PipelineDAG(nodes=NODES, edges=EDGES)
    config = _config(tmp_path, dag, DriftCheck={"columns": COLUMNS, "drift_threshold": 0.5})
    plan = PipelineDAGCompiler(config).compile_to_plan(dag)
    result = LocalRunner(plan, workspace=tmp_path / "ws", workers=2).run()
    assert result.ok, {n: s.error for n, s in result.steps.items() if not s.ok}
    step = result.steps["DriftCheck"]
    report = json.loads((Path(step.outputs["drift_report"]) / "drift.json").read_text())
    assert set(report["columns"]) == set(COLUMNS)
    assert (Path(step.outputs["drift_report"]) / "drift.html").is_file()
    # two disjoint samples of one dataset: no drift, and the step says so in its metrics
    assert report["drift_detected"] is False
    assert step.metrics["n_columns"] == len(COLUMNS) and step.metrics["drift_detected"] == 0.0


def test_fail_on_drift_fails_the_step_and_keeps_the_report(tmp_path: Path) -> None:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    reference, current = tmp_path / "reference" / "train", tmp_path / "current"
    reference.mkdir(parents=True)
    current.mkdir()
    frame.iloc[::2].to_parquet(reference / "data.parquet", index=False)
    shifted = frame.iloc[1::2].assign(mean_radius=lambda f: f.mean_radius * 2)
    shifted.to_parquet(current / "data.parquet", index=False)
    script = _script()
    inputs = {"reference_data": str(tmp_path / "reference"), "current_data": str(current)}
    environ = {
        "DRIFT_THRESHOLD": "0.25",
        "DRIFT_COLUMNS": json.dumps(COLUMNS),
        "FAIL_ON_DRIFT": "true",
        "LABEL_FIELD": "target",
    }
    out = tmp_path / "out"
    with pytest.raises(script.DataDriftError, match=r"1 of 4 columns drifted .*'mean_radius'"):
        script.main(inputs, {"drift_report": str(out)}, environ, {})
    assert json.loads((out / "drift.json").read_text())["drifted_columns"] == ["mean_radius"]
    metrics = script.main(
        inputs, {"drift_report": str(out)}, {**environ, "FAIL_ON_DRIFT": "false"}, {}
    )
    assert metrics["drift_detected"] == 1.0 and metrics["drift_share"] == 0.25
    with pytest.raises(ValueError, match="DRIFT_COLUMNS must be a JSON list"):
        script.main(inputs, {"drift_report": str(out)}, {"DRIFT_COLUMNS": '"mean_radius"'}, {})
    pd.testing.assert_frame_equal(
        script.load_table(tmp_path / "reference"), frame.iloc[::2].reset_index(drop=True)
    )
