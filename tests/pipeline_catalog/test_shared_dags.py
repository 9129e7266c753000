"""Shared DAGs: one definition per shape, one metadata schema, and the wiring each one compiles to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cursus.api.loading import bundled_dag_names, load_dag
from cursus.core.compiler import PipelineDAGCompiler
from cursus.pipeline_catalog import DagMetadata, get_pipeline, load_shared_dag
from cursus.pipeline_catalog.bundled import check_bundled_dags, write_bundled_dags
from cursus.pipeline_catalog.index import catalog_pipelines
from cursus.pipeline_catalog.model import CatalogError, describe_dag, step_features
from cursus.pipeline_catalog.samples import sample_configs
from cursus.pipeline_catalog.shared_dags import load_shared_dag_module, shared_dag_ids
from cursus.steps.library import split_node_name

SHARED_DAGS = shared_dag_ids()


def test_the_shapes_the_catalog_defines() -> None:
    assert SHARED_DAGS == [
        "generic.deployment",
        "generic.pretrained_e2e",
        "lightgbm.complete_e2e",
        "lightgbm.complete_e2e_with_percentile_calibration",
        "pytorch.complete_e2e",
        "pytorch.standard_e2e",
        "pytorch.stratified_percentile_e2e",
        "pytorch.training",
        "xgboost.complete_e2e",
        "xgboost.complete_e2e_with_testing",
        "xgboost.inference_with_wiki",
        "xgboost.multiclass_e2e",
        "xgboost.percentile_e2e",
        "xgboost.regression_e2e",
        "xgboost.simple",
        "xgboost.standard_e2e",
        "xgboost.training_with_calibration",
        "xgboost.training_with_evaluation",
        "xgboost.training_with_feature_selection",
        "xgboost.training_with_preprocessing",
        "xgboost.training_with_stratified",
    ]


@pytest.mark.parametrize("dag_id", SHARED_DAGS)
def test_every_shared_dag_has_consistent_metadata(dag_id: str) -> None:
    module = load_shared_dag_module(dag_id)
    dag = module.create_dag()
    meta = module.get_dag_metadata()
    assert isinstance(meta, DagMetadata)
    assert meta.id == dag_id
    assert (meta.node_count, meta.edge_count) == (len(dag), len(dag.edges))
    assert meta.description == dag.description != ""
    assert meta.framework == dag_id.split(".")[0]
    assert set(step_features(dag)) <= set(meta.features)
    for node in dag.nodes:  # <StepType>[_<job_type>], with a step type Cursus knows
        step_type, job_type = split_node_name(node)
        assert node == (f"{step_type}_{job_type}" if job_type else step_type)


def test_metadata_must_declare_what_the_steps_do() -> None:
    dag = load_shared_dag("xgboost.training_with_calibration")
    with pytest.raises(CatalogError, match=r"features \['calibration'\]"):
        describe_dag(
            "x.shared_dags.xgboost.broken",
            dag,
            framework="xgboost",
            complexity="standard",
            features=("data_loading", "preprocessing", "training", "evaluation"),
        )
    with pytest.raises(CatalogError, match="complexity 'huge' is not one of"):
        describe_dag(
            "x.shared_dags.y.z",
            load_shared_dag("generic.deployment"),
            framework="generic",
            complexity="huge",
            features=("packaging", "payload", "registration"),
        )


def test_complete_e2e_is_the_bundled_xgboost_e2e() -> None:
    shared = load_shared_dag("xgboost.complete_e2e")
    assert load_dag("xgboost_e2e").to_dict() == shared.to_dict()
    assert load_shared_dag("xgboost_complete_e2e_mods").to_dict() == shared.to_dict()


def test_bundled_dag_files_are_written_from_the_shared_dags(tmp_path: Path) -> None:
    assert check_bundled_dags() == []
    assert bundled_dag_names() == [
        "lightgbm_e2e",
        "pytorch_e2e",
        "xgboost_e2e",
        "xgboost_multiclass_e2e",
        "xgboost_simple",
    ]
    assert load_dag("lightgbm_e2e").to_dict() == load_shared_dag("lightgbm.complete_e2e").to_dict()
    assert (
        load_dag("xgboost_multiclass_e2e").to_dict()
        == load_shared_dag("xgboost.multiclass_e2e").to_dict()
    )
    drifted = tmp_path / "dags"
    drifted.mkdir()
    assert [p.name for p in write_bundled_dags(drifted)] == [
        "lightgbm_e2e.json",
        "pytorch_e2e.json",
        "xgboost_e2e.json",
        "xgboost_multiclass_e2e.json",
        "xgboost_simple.json",
    ]
    assert check_bundled_dags(drifted) == []
    (drifted / "xgboost_simple.json").write_text('{"dag": {"nodes": ["XGBoostTraining"]}}\n')
    (drifted / "mine.json").write_text("{}")
    problems = check_bundled_dags(drifted)
    assert len(problems) == 2
    assert "xgboost_simple.json: differs from its shared DAG" in problems[0]
    assert "cursus catalog bundled-dags --write" in problems[0]
    assert "mine.json: no shared DAG declares bundled_name 'mine'" in problems[1]
    assert write_bundled_dags(drifted) == [drifted / "xgboost_simple.json"]


def test_pipelines_reference_their_shared_dag_module_not_a_copy() -> None:
    pipelines = {p.id: p for p in catalog_pipelines()}
    for pipeline in pipelines.values():
        assert pipeline.shared_dag is load_shared_dag_module(pipeline.shared_dag_id)
        if pipeline.compiler_type == "mods":
            assert pipeline.shared_dag is pipelines[pipeline.variant_of].shared_dag
    for package in ("pipelines", "mods_pipelines"):
        folder = Path(__file__).parents[2] / "src/cursus/pipeline_catalog" / package
        for source in folder.glob("*.py"):  # no module spells out nodes of its own
            text = source.read_text()
            assert "PipelineDAG(" not in text and "edges" not in text, source


# ---------------------------------------------------------------- pinned bindings


def _training(trainer: str) -> set[str]:
    return {
        "TabularPreprocessing_training.data_input <- DataLoading_training.data",
        "TabularPreprocessing_training.metadata_input <- DataLoading_training.metadata",
        f"{trainer}.input_path <- TabularPreprocessing_training.processed_data",
        f"{trainer}.preprocessing_artifacts <- TabularPreprocessing_training.preprocessing_artifacts",
    }


def _holdout(trainer: str, evaluator: str, job: str) -> set[str]:
    return {
        f"TabularPreprocessing_{job}.data_input <- DataLoading_{job}.data",
        f"TabularPreprocessing_{job}.metadata_input <- DataLoading_{job}.metadata",
        f"{evaluator}_{job}.model_input <- {trainer}.model_output",
        f"{evaluator}_{job}.processed_data <- TabularPreprocessing_{job}.processed_data",
    }


CALIBRATE = "ModelCalibration_calibration.evaluation_data <- {}_calibration.eval_output"
RELEASE = {
    "Payload.packaged_model <- Package.packaged_model",
    "Registration.packaged_model <- Package.packaged_model",
    "Registration.payload_sample <- Payload.payload_sample",
}


def _complete(trainer: str, evaluator: str) -> set[str]:
    return (
        _training(trainer)
        | _holdout(trainer, evaluator, "calibration")
        | {CALIBRATE.format(evaluator)}
        | {
            f"Package.model_input <- {trainer}.model_output",
            "Package.calibration_model <- ModelCalibration_calibration.calibration_output",
        }
        | RELEASE
    )


def _fitted_chain(steps: list[str], trainer: str, holdout: str) -> set[str]:
    """Fitted-transform steps in a row on both sides: each takes its data from the step before it
    on its own side and, off the training side, the fit of its _training twin."""
    bound: set[str] = set()
    for side in ("training", holdout):
        before = f"TabularPreprocessing_{side}"
        for step in steps:
            node = f"{step}_{side}"
            fit_from = before if side == "training" else f"{step}_training"
            bound |= {
                f"{node}.processed_data <- {before}.processed_data",
                f"{node}.preprocessing_artifacts <- {fit_from}.preprocessing_artifacts",
            }
            before = node
    last = f"{steps[-1]}_training"
    return (
        {b for b in _training(trainer) if "TabularPreprocessing_training." in b.split(" <- ")[0]}
        | {
            f"{trainer}.input_path <- {last}.processed_data",
            f"{trainer}.preprocessing_artifacts <- {last}.preprocessing_artifacts",
        }
        | {
            f"TabularPreprocessing_{holdout}.data_input <- DataLoading_{holdout}.data",
            f"TabularPreprocessing_{holdout}.metadata_input <- DataLoading_{holdout}.metadata",
            f"XGBoostModelEval_{holdout}.model_input <- {trainer}.model_output",
            f"XGBoostModelEval_{holdout}.processed_data <- {steps[-1]}_{holdout}.processed_data",
        }
        | bound
    )


PERCENTILE = "PercentileModelCalibration_calibration.evaluation_data <- {}_calibration.eval_output"


def _percentile_release(trainer: str, scorer: str) -> set[str]:
    """Percentiles from a holdout's scores, packaged; payloads from the trained model itself."""
    return {
        PERCENTILE.format(scorer),
        f"Package.model_input <- {trainer}.model_output",
        "Package.calibration_model <- PercentileModelCalibration_calibration.calibration_output",
        f"Payload.model_input <- {trainer}.model_output",
        "Registration.packaged_model <- Package.packaged_model",
        "Registration.payload_sample <- Payload.payload_sample",
    }


def _testing(trainer: str, scorer: str) -> set[str]:
    return _holdout(trainer, scorer, "testing") | {
        f"ModelMetricsComputation_testing.processed_data <- {scorer}_testing.eval_output",
        "ModelWikiGenerator.metrics_output <- ModelMetricsComputation_testing.metrics_output",
    }


def _stratified(trainer: str) -> set[str]:
    return {
        b for b in _training(trainer) if "TabularPreprocessing_training." in b.split(" <- ")[0]
    } | {
        "StratifiedSampling_training.processed_data <- TabularPreprocessing_training.processed_data",
        "StratifiedSampling_training.preprocessing_artifacts <- "
        "TabularPreprocessing_training.preprocessing_artifacts",
        f"{trainer}.input_path <- StratifiedSampling_training.processed_data",
        f"{trainer}.preprocessing_artifacts <- StratifiedSampling_training.preprocessing_artifacts",
    }


EXPECTED_BINDINGS = {
    "xgboost.training_with_preprocessing": _fitted_chain(
        ["MissingValueImputation", "RiskTableMapping"], "XGBoostTraining", "evaluation"
    ),
    "xgboost.training_with_feature_selection": _fitted_chain(
        ["MissingValueImputation", "RiskTableMapping", "FeatureSelection"],
        "XGBoostTraining",
        "evaluation",
    ),
    "xgboost.training_with_stratified": _stratified("XGBoostTraining")
    | _holdout("XGBoostTraining", "XGBoostModelEval", "evaluation"),
    "xgboost.percentile_e2e": _training("XGBoostTraining")
    | _holdout("XGBoostTraining", "XGBoostModelEval", "calibration")
    | _percentile_release("XGBoostTraining", "XGBoostModelEval"),
    "xgboost.complete_e2e_with_testing": _training("XGBoostTraining")
    | _holdout("XGBoostTraining", "XGBoostModelInference", "calibration")
    | _testing("XGBoostTraining", "XGBoostModelInference")
    | _percentile_release("XGBoostTraining", "XGBoostModelInference"),
    "lightgbm.complete_e2e_with_percentile_calibration": _training("LightGBMTraining")
    | _holdout("LightGBMTraining", "LightGBMModelEval", "calibration")
    | _testing("LightGBMTraining", "LightGBMModelInference")
    | _percentile_release("LightGBMTraining", "LightGBMModelEval"),
    "pytorch.standard_e2e": _training("PyTorchTraining")
    | _holdout("PyTorchTraining", "PyTorchModelEval", "validation")
    | {
        "Package.model_input <- PyTorchTraining.model_output",
        "Payload.model_input <- PyTorchTraining.model_output",
        "Registration.packaged_model <- Package.packaged_model",
        "Registration.payload_sample <- Payload.payload_sample",
    },
    "pytorch.stratified_percentile_e2e": _stratified("PyTorchTraining")
    | _holdout("PyTorchTraining", "PyTorchModelInference", "calibration")
    | _percentile_release("PyTorchTraining", "PyTorchModelInference"),
    "generic.pretrained_e2e": {
        "DummyTraining.model_artifacts_input <- s3://bucket/model.tar.gz",
        "Package.model_input <- DummyTraining.model_output",
        "Payload.model_input <- DummyTraining.model_output",
        "Registration.packaged_model <- Package.packaged_model",
        "Registration.payload_sample <- Payload.payload_sample",
    },
    "xgboost.inference_with_wiki": {
        "DummyTraining.model_artifacts_input <- s3://bucket/model.tar.gz",
        "TabularPreprocessing_calibration.data_input <- DataLoading_calibration.data",
        "TabularPreprocessing_calibration.metadata_input <- DataLoading_calibration.metadata",
        "XGBoostModelInference_calibration.model_input <- DummyTraining.model_output",
        "XGBoostModelInference_calibration.processed_data <- "
        "TabularPreprocessing_calibration.processed_data",
        "ModelMetricsComputation_calibration.processed_data <- "
        "XGBoostModelInference_calibration.eval_output",
        "ModelWikiGenerator.metrics_output <- ModelMetricsComputation_calibration.metrics_output",
        "ModelCalibration_calibration.evaluation_data <- "
        "XGBoostModelInference_calibration.eval_output",
    },
    "xgboost.simple": _training("XGBoostTraining"),
    "xgboost.training_with_evaluation": _training("XGBoostTraining")
    | _holdout("XGBoostTraining", "XGBoostModelEval", "evaluation"),
    "xgboost.training_with_calibration": _training("XGBoostTraining")
    | _holdout("XGBoostTraining", "XGBoostModelEval", "calibration")
    | {CALIBRATE.format("XGBoostModelEval")},
    "xgboost.standard_e2e": _training("XGBoostTraining")
    | _holdout("XGBoostTraining", "XGBoostModelEval", "evaluation")
    | {"Package.model_input <- XGBoostTraining.model_output"}
    | RELEASE,
    "xgboost.complete_e2e": _complete("XGBoostTraining", "XGBoostModelEval"),
    "xgboost.multiclass_e2e": _complete("XGBoostTraining", "XGBoostModelEval"),
    "xgboost.regression_e2e": _training("XGBoostTraining")
    | _holdout("XGBoostTraining", "XGBoostModelEval", "evaluation")
    | {"Package.model_input <- XGBoostTraining.model_output"}
    | RELEASE,
    "lightgbm.complete_e2e": _complete("LightGBMTraining", "LightGBMModelEval"),
    "pytorch.training": _training("PyTorchTraining"),
    "pytorch.complete_e2e": _complete("PyTorchTraining", "PyTorchModelEval"),
    "generic.deployment": {"Package.model_input <- s3://bucket/model.tar.gz"} | RELEASE,
}


@pytest.mark.parametrize("dag_id", SHARED_DAGS)
def test_each_shared_dag_compiles_to_its_pinned_bindings(
    dag_id: str, sample_config: Callable[..., Path]
) -> None:
    """A change to the resolver that re-wires any catalog pipeline fails here."""
    pipeline = next(p for p in catalog_pipelines() if p.shared_dag_id == dag_id)
    config = sample_config(pipeline.id, model_uri="s3://bucket/model.tar.gz")
    plan = PipelineDAGCompiler(config).compile_to_plan(pipeline.create_dag())
    bound = {
        f"{step.name}.{name} <- {source.get('uri') or source['from_step'] + '.' + source['output']}"
        for step in plan.steps
        for name, source in step.inputs.items()
    }
    assert bound == EXPECTED_BINDINGS[dag_id]
    assert plan.warnings == []


# ---------------------------------------------------------------- sample problem types


@pytest.mark.parametrize(
    ("pipeline_id", "problem_type", "sources"),
    [
        (
            pipeline_id,
            "multiclass",
            {  # the digits 0-6: 70% trains, the other 30% evaluates and calibrates
                "DataLoading_training": "sklearn:digits?n_class=7&fraction=0.3&seed=7&part=rest",
                "DataLoading_calibration": "sklearn:digits?n_class=7&fraction=0.3&seed=7",
            },
        )
        for pipeline_id in ("xgboost_multiclass_e2e", "xgboost_multiclass_e2e_mods")
    ]
    + [
        (
            pipeline_id,
            "regression",
            {
                "DataLoading_training": "sklearn:diabetes?fraction=0.3&seed=7&part=rest",
                "DataLoading_evaluation": "sklearn:diabetes?fraction=0.3&seed=7",
            },
        )
        for pipeline_id in ("xgboost_regression_e2e", "xgboost_regression_e2e_mods")
    ],
)
def test_the_sample_config_sets_the_problem_type_and_its_data(
    pipeline_id: str, problem_type: str, sources: dict[str, str]
) -> None:
    pipeline = get_pipeline(pipeline_id)
    configs = sample_configs(pipeline)
    assert list(configs) == pipeline.create_dag().nodes
    assert {node: c.problem_type for node, c in configs.items()} == dict.fromkeys(
        configs, problem_type
    )
    loading = {node: c.data_source for node, c in configs.items() if node.startswith("DataLoading")}
    assert loading == sources
    # the binary catalog pipelines leave the problem type to the label
    binary = sample_configs(get_pipeline("xgboost_complete_e2e"))
    assert {c.problem_type for c in binary.values()} == {None}
