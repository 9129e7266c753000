"""Config classes: defaults, validation, and what the spec contracts read from them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cursus.steps.configs import (
    SAMPLE_HOLDOUT_SOURCE,
    SAMPLE_TRAINING_SOURCE,
    BasePipelineConfig,
    DataLoadingConfig,
    LightGBMTrainingConfig,
    ModelCalibrationConfig,
    PyTorchTrainingConfig,
    RegistrationConfig,
    TabularPreprocessingConfig,
    XGBoostTrainingConfig,
    config_field_value,
)
from cursus.steps.library import step_library

CONFIG_CLASSES = step_library().config_classes()


def test_every_step_type_has_its_config_class() -> None:
    for unit in step_library():
        assert CONFIG_CLASSES[unit.config_class.__name__] is unit.config_class
        assert unit.spec.config_class.endswith(":" + unit.config_class.__name__)
        assert issubclass(unit.config_class, BasePipelineConfig)


@pytest.mark.parametrize("cls", list(CONFIG_CLASSES.values()), ids=lambda c: c.__name__)
def test_defaults_are_valid_and_round_trip_through_json(cls: type[BasePipelineConfig]) -> None:
    config = cls()
    assert cls.model_validate(config.model_dump(mode="json")) == config


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="learning_rate"):
        XGBoostTrainingConfig(learning_rate=0.1)
    with pytest.raises(ValidationError, match="etaa"):
        XGBoostTrainingConfig(hyperparameters={"etaa": 0.1})


def test_assignment_is_validated() -> None:
    config = XGBoostTrainingConfig()
    with pytest.raises(ValidationError, match="instance_count"):
        config.instance_count = 0
    config.instance_count = 3
    assert config.instance_count == 3


@pytest.mark.parametrize("name", ["xgboost-e2e", "a", "A1", "fraud-model-v2", "x" * 82])
def test_good_pipeline_names(name: str) -> None:
    assert BasePipelineConfig(pipeline_name=name).pipeline_name == name


@pytest.mark.parametrize(
    "name", ["", "-lead", "trail-", "has space", "under_score", "dot.ted", "x" * 83]
)
def test_bad_pipeline_names(name: str) -> None:
    with pytest.raises(ValidationError, match="letters, digits and hyphens"):
        BasePipelineConfig(pipeline_name=name)


@pytest.mark.parametrize("version", ["1.0.0", "0.0.1", "10.20.30", "1.0.0-rc.1", "1.0.0+build.5"])
def test_good_versions(version: str) -> None:
    assert BasePipelineConfig(pipeline_version=version).pipeline_version == version


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "1", "1.0.0.0", "one", "1.0.0-"])
def test_bad_versions(version: str) -> None:
    with pytest.raises(ValidationError, match="semantic version"):
        BasePipelineConfig(pipeline_version=version)


@pytest.mark.parametrize(
    ("value", "ok"),
    [("ml.m5.xlarge", True), ("local", True), ("m5.xlarge", False), ("ML.M5.XL", False)],
)
def test_instance_types(value: str, ok: bool) -> None:
    if ok:
        assert BasePipelineConfig(instance_type=value).instance_type == value
    else:
        with pytest.raises(ValidationError, match="instance type"):
            BasePipelineConfig(instance_type=value)


@pytest.mark.parametrize(
    ("cls", "values"),
    [
        (BasePipelineConfig, {"instance_count": 0}),
        (BasePipelineConfig, {"retries": 11}),
        (BasePipelineConfig, {"max_runtime_seconds": 10}),
        (TabularPreprocessingConfig, {"train_ratio": 1.0}),
        (TabularPreprocessingConfig, {"test_val_ratio": 0}),
        (ModelCalibrationConfig, {"calibration_method": "beta"}),
        (ModelCalibrationConfig, {"n_bins": 1}),
        (XGBoostTrainingConfig, {"hyperparameters": {"eta": 0}}),
        (XGBoostTrainingConfig, {"hyperparameters": {"objective": "reg:logistic"}}),
        (XGBoostTrainingConfig, {"problem_type": "ranking"}),
        (LightGBMTrainingConfig, {"hyperparameters": {"num_leaves": 1}}),
        (PyTorchTrainingConfig, {"hyperparameters": {"dropout": 1.0}}),
        (RegistrationConfig, {"approval_status": "Maybe"}),
    ],
)
def test_values_out_of_range_are_refused(cls: type[BasePipelineConfig], values: dict) -> None:
    with pytest.raises(ValidationError):
        cls(**values)


def test_data_loading_defaults_to_disjoint_parts_of_the_bundled_sample() -> None:
    assert DataLoadingConfig(job_type="training").data_source == SAMPLE_TRAINING_SOURCE
    assert DataLoadingConfig().data_source == SAMPLE_TRAINING_SOURCE
    assert DataLoadingConfig(job_type="calibration").data_source == SAMPLE_HOLDOUT_SOURCE
    assert DataLoadingConfig(data_source="/data/x.csv").data_source == "/data/x.csv"


def test_what_a_contract_reads_from_a_config() -> None:
    xgb = XGBoostTrainingConfig(hyperparameters={"max_depth": 3})
    assert config_field_value(xgb, "label_field") == "label"
    hyper = config_field_value(xgb, "hyperparameters")
    assert isinstance(hyper, dict)
    assert hyper["max_depth"] == 3
    registration = RegistrationConfig(pipeline_name="fraud")
    assert config_field_value(registration, "model_name") == "fraud"
    assert config_field_value(RegistrationConfig(model_name="m"), "model_name") == "m"


def test_a_cradle_config_with_only_its_job_spec_says_what_to_set() -> None:
    from cursus.steps.configs import CradleDataLoadingConfig, DummyDataLoadingConfig

    with pytest.raises(ValidationError, match="Cradle is an internal service Cursus cannot call"):
        CradleDataLoadingConfig(data_sources_spec={"data_sources": [{"type": "MDS"}]})
    given = CradleDataLoadingConfig(
        data_source="s3://bucket/cradle/out.parquet", output_spec={"output_path": "s3://x"}
    )
    assert given.data_source == "s3://bucket/cradle/out.parquet"
    # with neither, the bundled sample, as DataLoading: the first system's DAGs run as they come
    assert CradleDataLoadingConfig().data_source == DummyDataLoadingConfig().data_source
