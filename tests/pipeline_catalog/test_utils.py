"""Catalog utilities: finding pipelines, building them with the right compiler, recommending."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cursus.core.config_file import load_configs
from cursus.mods.registry import TemplateRegistryReader
from cursus.pipeline_catalog import (
    CatalogError,
    create_pipeline_from_catalog,
    get_mods_pipelines,
    get_pipeline,
    get_standard_pipelines,
    list_pipelines_by_compiler_type,
    load_shared_dag,
    recommend_pipelines,
)
from cursus.pipeline_catalog.samples import SAMPLE_BUCKET, SAMPLE_ROLE
from cursus.plan import Plan


def test_pipelines_by_compiler_type() -> None:
    standard = [e["id"] for e in get_standard_pipelines()]
    mods = [e["id"] for e in get_mods_pipelines()]
    assert standard == sorted(standard) and len(standard) == 21
    assert {"model_deployment", "xgboost_simple", "xgboost_training_with_feature_selection"} <= set(
        standard
    )
    assert mods == [f"{i}_mods" for i in standard]
    assert list_pipelines_by_compiler_type("mods") == get_mods_pipelines()
    assert [e["id"] for e in list_pipelines_by_compiler_type()] == standard
    with pytest.raises(
        CatalogError, match="unknown compiler type 'MODS'; use one of: standard, mods"
    ):
        list_pipelines_by_compiler_type("MODS")


def test_load_shared_dag_by_shared_dag_id_or_pipeline_id() -> None:
    assert load_shared_dag("generic.deployment").nodes == ["Package", "Payload", "Registration"]
    assert load_shared_dag("model_deployment_mods").nodes == ["Package", "Payload", "Registration"]
    with pytest.raises(CatalogError, match=r"no shared DAG 'xgboost\.huge'; shared DAGs: generic"):
        load_shared_dag("xgboost.huge")
    with pytest.raises(CatalogError, match="no catalog pipeline 'huge'"):
        load_shared_dag("huge")


def test_sample_config_runs_fast_and_carries_what_mods_and_sagemaker_read(
    sample_config: Callable[..., Path],
) -> None:
    configs = load_configs(sample_config("xgboost_complete_e2e_mods"))
    base = configs["XGBoostTraining"]
    assert base.hyperparameters.num_round == 30
    assert (base.role, base.bucket) == (SAMPLE_ROLE, SAMPLE_BUCKET)
    assert (base.author, base.pipeline_version, base.pipeline_name) == (
        "cursus-catalog",
        "1.0.0",
        "xgboost-complete-e2e",
    )
    torch = load_configs(sample_config("pytorch_training"))["PyTorchTraining"]
    assert torch.hyperparameters.epochs == 5


def test_the_deployment_sample_binds_the_model_from_outside(
    sample_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    configs = load_configs(sample_config("model_deployment", model_uri="/models/mine"))
    assert configs["Package"].input_bindings == {"model_input": "/models/mine"}
    monkeypatch.setenv("CURSUS_MODEL_URI", "s3://bucket/m.tar.gz")
    assert load_configs(sample_config("model_deployment", model_uri=None))[
        "Package"
    ].input_bindings == {"model_input": "s3://bucket/m.tar.gz"}
    monkeypatch.delenv("CURSUS_MODEL_URI")
    monkeypatch.setenv("CURSUS_WORKSPACE", str(tmp_path / "ws"))
    assert load_configs(sample_config("model_deployment", model_uri=None))[
        "Package"
    ].input_bindings == {"model_input": str(tmp_path / "ws" / "models" / "latest")}


def test_create_from_catalog_with_target_plan(sample_config: Callable[..., Path]) -> None:
    plan = create_pipeline_from_catalog(
        "xgboost_training_evaluation", sample_config("xgboost_training_evaluation"), target="plan"
    )
    assert isinstance(plan, Plan)
    assert [s.name for s in plan.steps][-1] == "XGBoostModelEval_evaluation"
    assert plan.pipeline["pipeline_name"] == "xgboost-training-evaluation"


def test_the_compiler_follows_the_compiler_type(sample_config: Callable[..., Path]) -> None:
    from cursus.core.compiler import PipelineDAGCompiler
    from cursus.mods.compiler import MODSPipelineDAGCompiler

    config = sample_config("xgboost_simple")
    standard = get_pipeline("xgboost_simple").compiler(config)
    mods = get_pipeline("xgboost_simple_mods").compiler(config)
    assert type(standard) is PipelineDAGCompiler
    assert type(mods) is MODSPipelineDAGCompiler


def test_a_mods_sagemaker_compile_registers_the_template_as_the_index_says(
    sample_config: Callable[..., Path], registry_path: Path
) -> None:
    pipeline = create_pipeline_from_catalog(
        "xgboost_simple_mods",
        sample_config("xgboost_simple_mods"),
        target="sagemaker",
        allow_sample_data=True,
    )
    assert pipeline.name == "xgboost-simple"
    meta = get_pipeline("xgboost_simple_mods").mods_metadata()
    assert meta is not None
    info = TemplateRegistryReader(registry_path).get(meta.template_name, meta.version)
    assert info is not None
    assert (info.author, info.description, info.framework) == (
        meta.author,
        meta.description,
        "xgboost",
    )


def test_a_bad_target_is_named() -> None:
    with pytest.raises(
        CatalogError, match="unknown compile target 'airflow'; available: plan, sagemaker"
    ):
        create_pipeline_from_catalog("xgboost_simple", "missing.json", target="airflow")


# ---------------------------------------------------------------- recommending


def test_recommend_ranks_and_explains() -> None:
    found = recommend_pipelines(framework="xgboost", task="evaluation", compiler_type="standard")
    # ties (score 6) go to the simpler pipeline, then by id; the default limit is 5
    assert [r.id for r in found] == [
        "xgboost_inference_with_wiki",
        "xgboost_training_evaluation",
        "xgboost_training_with_preprocessing",
        "xgboost_training_with_stratified",
        "xgboost_training_with_feature_selection",  # advanced: after the standard ones
    ]
    assert [r.score for r in found] == [6] * 5
    assert found[0].reasons == ("framework xgboost", "task evaluation")
    more = recommend_pipelines(
        framework="xgboost", task="evaluation", compiler_type="standard", limit=7
    )
    assert [r.id for r in more] == [r.id for r in found] + [
        "xgboost_training_calibration",
        "xgboost_regression_e2e",
    ]
    assert more[5].reasons == ("framework xgboost", "does evaluation as part of calibration")
    assert more[6].reasons == ("framework xgboost", "does evaluation as part of end_to_end")
    assert [r.score for r in more[5:]] == [4, 4]


def test_recommend_finds_the_new_frameworks_and_problem_types() -> None:
    found = recommend_pipelines(framework="lightgbm", task="training")
    assert [r.id for r in found] == [
        "lightgbm_complete_e2e",
        "lightgbm_complete_e2e_mods",
        "lightgbm_complete_e2e_with_percentile_calibration",
        "lightgbm_complete_e2e_with_percentile_calibration_mods",
    ]
    assert found[0].reasons == ("framework lightgbm", "does training as part of end_to_end")
    found = recommend_pipelines(framework="xgboost", features=["multiclass"], limit=2)
    assert [(r.id, r.score) for r in found] == [
        ("xgboost_multiclass_e2e", 4),
        ("xgboost_multiclass_e2e_mods", 4),
    ]
    found = recommend_pipelines(features=["regression"], compiler_type="mods", limit=1)
    assert [(r.id, r.reasons) for r in found] == [
        ("xgboost_regression_e2e_mods", ("has regression",))
    ]


def test_recommend_weighs_features_and_takes_generic_pipelines() -> None:
    found = recommend_pipelines(
        framework="pytorch", task="registration", features=["calibration"], limit=8
    )
    assert [r.id for r in found] == [
        "pytorch_complete_e2e",
        "pytorch_complete_e2e_mods",
        "pytorch_stratified_percentile_e2e",
        "pytorch_stratified_percentile_e2e_mods",
        "pytorch_standard_e2e",  # lacks calibration: after those that have it
        "pytorch_standard_e2e_mods",
        "model_deployment",  # any framework: after the PyTorch ones
        "model_deployment_mods",
    ]
    assert found[0].reasons == (
        "framework pytorch",
        "does registration as part of end_to_end",
        "has calibration",
    )
    assert found[6].reasons == (
        "works with any framework, pytorch too",
        "does registration as part of deployment",
        "lacks calibration",
    )


def test_recommend_rejects_unknown_words() -> None:
    with pytest.raises(
        CatalogError,
        match="unknown framework 'sklearn'; use one of: lightgbm, pytorch, xgboost, generic",
    ):
        recommend_pipelines(framework="sklearn")
    with pytest.raises(CatalogError, match="unknown feature 'magic'"):
        recommend_pipelines(features=["magic"])
