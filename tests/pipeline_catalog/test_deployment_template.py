"""The deployment template: validate the model path, package/payload/register it here or on SageMaker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cursus.core.config_file import default_configs, save_configs
from cursus.errors import ConfigError
from cursus.mods.registry import TemplateRegistryReader
from cursus.pipeline_catalog.deployment import (
    DeploymentPipelineBuilder,
    create_deployment_template_class,
    validate_model_path,
)
from cursus.pipeline_catalog.shared_dags.generic.deployment import create_dag
from cursus.targets import run_pipeline

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder from a real training run (xgboost_simple, few trees)."""
    from cursus.api.loading import load_dag

    root = tmp_path_factory.mktemp("train")
    configs = default_configs(load_dag("xgboost_simple"), pipeline_name="train-for-deploy")
    configs["XGBoostTraining"].hyperparameters.num_round = 10
    config = save_configs(configs, root / "train.json")
    result = run_pipeline(
        "xgboost_simple",
        config,
        workspace=root / "ws",
        registry_uri=str(root / "reg"),
        tracking=False,
    )
    assert result.ok
    return Path(result.steps["XGBoostTraining"].outputs["model_output"])


@pytest.fixture
def deploy_config(tmp_path: Path) -> Path:
    configs = default_configs(
        create_dag(),
        pipeline_name="model-deployment",
        author="deployers",
        pipeline_version="1.0.0",
        pipeline_description="deploy an existing model",
        role=ROLE,
        bucket="cursus-models",
        model_framework="xgboost",
    )
    return save_configs(configs, tmp_path / "deploy.json")


def test_model_paths_are_validated(tmp_path: Path, trained_model: Path) -> None:
    assert validate_model_path("s3://bucket/models/run-1/") == "s3://bucket/models/run-1/"
    assert validate_model_path(str(trained_model)) == str(trained_model.resolve())
    with pytest.raises(ConfigError, match="does not exist"):
        validate_model_path(str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="not a model folder"):
        validate_model_path(str(tmp_path))
    with pytest.raises(ConfigError, match="not a valid s3"):
        validate_model_path("s3://B/x")


def test_runs_locally_from_an_existing_model(
    tmp_path: Path, deploy_config: Path, trained_model: Path
) -> None:
    registry = tmp_path / "registry"
    result = DeploymentPipelineBuilder(deploy_config).run(
        str(trained_model), workspace=tmp_path / "ws", registry_uri=str(registry)
    )
    assert result.ok, {k: v.error for k, v in result.steps.items()}
    record = json.loads(
        (
            Path(result.steps["Registration"].outputs["registration_output"]) / "registration.json"
        ).read_text()
    )
    assert record["name"] == "model-deployment" and record["version"] == 1
    assert (
        Path(result.steps["Payload"].outputs["payload_sample"]) / "expected_responses.json"
    ).is_file()


def test_generate_pipeline_needs_s3_and_builds_the_sagemaker_pipeline(
    deploy_config: Path, trained_model: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CURSUS_TEMPLATE_REGISTRY", str(tmp_path / "templates.db"))
    cls = create_deployment_template_class(deploy_config)
    assert cls.__name__ == "ModelDeploymentTemplate"
    assert (cls.extract_author(), cls.extract_version()) == ("deployers", "1.0.0")
    assert (
        TemplateRegistryReader(tmp_path / "templates.db").get("ModelDeploymentTemplate") is not None
    )
    builder = cls(sagemaker_session=None, role=ROLE)
    with pytest.raises(ConfigError, match="SageMaker reads models from S3"):
        builder.generate_pipeline(str(trained_model))
    pipeline = builder.generate_pipeline("s3://cursus-models/runs/7/model/")
    definition = json.loads(pipeline.definition())
    names = [s["Name"] for s in definition["Steps"]]
    assert (
        "Package" in names
        and "Payload" in names
        and any(n.startswith("Registration") for n in names)
    )
    assert "s3://cursus-models/runs/7/model/" in pipeline.definition()
