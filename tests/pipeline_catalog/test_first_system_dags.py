"""The first system's catalog DAGs (its `shared_dags/*/*.dag.json`, nodes and edges as it ships
them, in first_system_dags/) that need only step types Cursus has: each validates, compiles and
runs locally on bundled data with its default config, wired as the first system wires it, with no
explicit bindings. The DAGs that still need something Cursus lacks are listed with the error
that says so, so this file shows the count and flips when they are supported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cursus.api.loading import load_dag
from cursus.core.config_file import default_configs
from cursus.core.planner import compile_plan
from cursus.errors import CursusError
from cursus.targets import compile_dag, run_pipeline

FOLDER = Path(__file__).parent / "first_system_dags"
SHAPES = sorted(p.stem for p in FOLDER.glob("*.json"))
# shapes whose wiring needs an output Cursus' steps do not have yet
UNSUPPORTED = {
    # its training step's own evaluation_output (val/test predictions) feeds the evaluation
    "bedrock__bedrock_pytorch_with_data_upload": r"'PyTorchModelEval_calibration': required input "
    r"'processed_data'",
    "xgboost__training_with_calibration": r"'ModelCalibration_training': required input "
    r"'evaluation_data'",
    "xgboost__training_with_calibration_fs": r"'ModelCalibration_training': required input "
    r"'evaluation_data'",
    # XGBoost trained on a PyTorch model's embeddings
    "pytorch__hybrid_xgboost_e2e": r"'XGBoostTraining': required input 'input_path'",
    # the file's XGBoostModelInference_calibration node has no incoming edge (its edges go to a
    # second node, XGBoostModelInference): the first system's file is wrong, and this says so
    "xgboost__complete_e2e_with_wiki": r"'XGBoostModelInference_calibration': required input "
    r"'model_input' .* among its predecessors \[none\]",
}
FAST = {
    "XGBoostTraining": {"hyperparameters": {"num_round": 20, "early_stopping_rounds": 5}},
    "LightGBMTraining": {"hyperparameters": {"num_boost_round": 20, "early_stopping_rounds": 5}},
    "PyTorchTraining": {"hyperparameters": {"epochs": 3, "hidden_dims": [16]}},
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One workspace for every shape: steps the shapes share (same config, same inputs) run once
    and are cached for the others, as they would be for a user running them in turn."""
    return tmp_path_factory.mktemp("first_system")


@pytest.fixture(scope="module")
def pretrained(workspace: Path) -> dict[str, Path]:
    """An XGBoost and a PyTorch model, trained here by the first system's own simple shapes, for
    the DAGs that bring one in with DummyTraining."""
    models = {}
    for framework, shape, trainer in (
        ("xgboost", "xgboost__simple", "XGBoostTraining"),
        ("pytorch", "pytorch__simple_training", "PyTorchTraining"),
    ):
        dag = load_dag(FOLDER / f"{shape}.json")
        result = run_pipeline(dag, _configs(dag), workspace=workspace, tracking=False)
        assert result.ok, {n: s.error for n, s in result.steps.items() if s.error}
        models[framework] = Path(result.steps[trainer].outputs["model_output"])
    return models


def _configs(
    dag: Any, models: dict[str, Path] | dict[str, str] | None = None, framework: str = "xgboost"
) -> Any:
    configs = default_configs(dag)
    for node, config in configs.items():
        values = dict(FAST.get(node, {}))
        if node == "DummyTraining" and models:
            values.update(pretrained_model_path=str(models[framework]), model_framework=framework)
        if values:
            configs[node] = type(config).model_validate({**config.model_dump(), **values})
    return configs


def test_the_shapes_are_the_first_systems_tabular_ones() -> None:
    assert len(SHAPES) == 27
    assert set(UNSUPPORTED) <= set(SHAPES)


@pytest.mark.parametrize("shape", [s for s in SHAPES if s in UNSUPPORTED])
def test_a_shape_cursus_cannot_wire_yet_says_which_input(shape: str) -> None:
    dag = load_dag(FOLDER / f"{shape}.json")
    with pytest.raises(CursusError, match=UNSUPPORTED[shape]):
        compile_plan(dag, default_configs(dag))


@pytest.mark.slow
@pytest.mark.parametrize("shape", [s for s in SHAPES if s not in UNSUPPORTED])
def test_each_supported_shape_validates_compiles_and_runs(
    shape: str, pretrained: dict[str, Path], workspace: Path
) -> None:
    dag = load_dag(FOLDER / f"{shape}.json")
    framework = "pytorch" if shape.startswith("pytorch") else "xgboost"
    configs = _configs(dag, pretrained, framework)
    plan = compile_plan(dag, configs)
    assert plan.warnings == []  # every edge carries data
    assert {s.name for s in plan.steps} == set(dag.nodes)
    result = run_pipeline(dag, configs, workspace=workspace, tracking=False, lineage=False)
    assert result.ok, {n: s.error for n, s in result.steps.items() if s.error}
    assert set(result.steps) == set(dag.nodes)


@pytest.mark.parametrize("shape", [s for s in SHAPES if s not in UNSUPPORTED])
def test_each_supported_shape_compiles_for_sagemaker(shape: str) -> None:
    """The same shapes, compiled offline to a SageMaker pipeline: every node a step (Registration
    two), every step's code bundled."""
    from cursus.pipeline_catalog.samples import SAMPLE_BUCKET, SAMPLE_ROLE

    dag = load_dag(FOLDER / f"{shape}.json")
    framework = "pytorch" if shape.startswith("pytorch") else "xgboost"
    models = {f: f"s3://{SAMPLE_BUCKET}/models/{f}/model.tar.gz" for f in ("xgboost", "pytorch")}
    configs = _configs(dag, models, framework)
    for node, config in configs.items():
        configs[node] = type(config).model_validate(
            {**config.model_dump(), "role": SAMPLE_ROLE, "bucket": SAMPLE_BUCKET}
        )
    compiled = compile_dag(dag, configs, allow_sample_data=True)
    steps = compiled.definition_dict()["Steps"]
    names = {s["Name"] for s in steps}
    for step in steps:
        if step["Type"] == "Processing":
            code = next(
                i for i in step["Arguments"]["ProcessingInputs"] if i["InputName"] == "code"
            )
            assert code["S3Input"]["S3Uri"] in compiled.code, step["Name"]
    expected = {n for n in dag.nodes if n != "Registration"}
    if "Registration" in dag.nodes:
        expected |= {"Registration-Model-CreateModel", "Registration-RegisterModel"}
    assert names == expected


@pytest.mark.slow
def test_the_widest_shape_runs_in_the_image_twins(tmp_path: Path) -> None:
    """xgboost complete_e2e_with_testing (15 nodes: Cradle loads, inference, percentile
    calibration, metrics computation, a model card, Payload fed by the training step, register),
    compiled for SageMaker and emulated offline in the images' twins."""
    from cursus.backends.sagemaker.emulate import emulate
    from cursus.backends.sagemaker.twins import TwinUnavailable, require_twin, twin_of
    from cursus.pipeline_catalog.samples import SAMPLE_BUCKET, SAMPLE_ROLE

    for framework in ("sklearn", "xgboost"):
        try:
            require_twin(twin_of(framework))
        except TwinUnavailable as exc:
            pytest.skip(str(exc))
    dag = load_dag(FOLDER / "xgboost__complete_e2e_with_testing.json")
    configs = _configs(dag)
    for node, config in configs.items():
        configs[node] = type(config).model_validate(
            {**config.model_dump(), "role": SAMPLE_ROLE, "bucket": SAMPLE_BUCKET}
        )
    result = emulate(compile_dag(dag, configs, allow_sample_data=True), tmp_path)  # type: ignore[arg-type]
    failures = {s.name: s.reason for s in result.steps if s.status != "Succeeded"}
    assert result.succeeded, failures
    register = next(s for s in result.steps if s.type == "RegisterModel")
    assert register.properties["SampleRequestsServed"] >= 4
