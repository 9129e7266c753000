"""The one config JSON: shared + specific + metadata.config_types, written and read back exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cursus.api.dag import PipelineDAG
from cursus.api.loading import load_dag
from cursus.core.config_file import (
    check_configs_cover_dag,
    configs_to_dict,
    default_configs,
    dump_configs,
    load_configs,
    read_configs,
    save_configs,
)
from cursus.errors import ConfigError, SpecError, ValidationFailed
from cursus.steps.configs import (
    DataLoadingConfig,
    PackageConfig,
    TabularPreprocessingConfig,
    XGBoostTrainingConfig,
)


def simple_configs() -> dict:
    return default_configs(load_dag("xgboost_simple"), pipeline_name="simple", author="ann")


def test_shared_fields_are_written_once_and_the_rest_per_node() -> None:
    data = configs_to_dict(simple_configs())
    shared = data["configuration"]["shared"]
    specific = data["configuration"]["specific"]
    assert shared["pipeline_name"] == "simple"
    assert shared["author"] == "ann"
    assert "job_type" not in shared  # 'training' for two nodes, null for XGBoostTraining
    assert specific["DataLoading_training"]["job_type"] == "training"
    assert specific["XGBoostTraining"]["job_type"] is None
    assert "hyperparameters" in specific["XGBoostTraining"]
    assert "pipeline_name" not in specific["XGBoostTraining"]
    assert data["metadata"]["config_types"] == {
        "DataLoading_training": "DataLoadingConfig",
        "TabularPreprocessing_training": "TabularPreprocessingConfig",
        "XGBoostTraining": "XGBoostTrainingConfig",
    }


def test_a_field_only_some_classes_have_is_never_shared() -> None:
    configs = {
        "DataLoading": DataLoadingConfig(random_seed=7),
        "TabularPreprocessing": TabularPreprocessingConfig(random_seed=7),
        "Package": PackageConfig(),
    }
    data = configs_to_dict(configs)
    assert "random_seed" not in data["configuration"]["shared"]
    assert data["configuration"]["specific"]["DataLoading"]["random_seed"] == 7


def test_one_node_keeps_everything_specific() -> None:
    data = configs_to_dict({"Package": PackageConfig()})
    assert data["configuration"]["shared"] == {}
    assert data["configuration"]["specific"]["Package"]["pipeline_name"] == "cursus-pipeline"


def test_save_and_load_round_trip_exactly(tmp_path: Path) -> None:
    dag = load_dag("xgboost_e2e")
    configs = default_configs(dag, pipeline_name="e2e", bucket="my-bucket")
    configs["XGBoostTraining"] = XGBoostTrainingConfig(
        pipeline_name="e2e",
        bucket="my-bucket",
        hyperparameters={"max_depth": 3, "eta": 0.3},
        input_bindings={"input_path": "TabularPreprocessing_training.processed_data"},
    )
    configs["TabularPreprocessing_training"].categorical_columns = ["city", "plan"]
    path = save_configs(configs, tmp_path / "sub" / "config.json")
    loaded = load_configs(path, dag)
    assert loaded == configs
    assert all(type(loaded[n]) is type(configs[n]) for n in configs)
    again = save_configs(loaded, tmp_path / "again.json")
    assert again.read_bytes() == path.read_bytes()
    assert not (tmp_path / "sub" / "config.json.tmp").exists()


def test_dump_is_sorted_and_ends_with_a_newline() -> None:
    text = dump_configs(simple_configs())
    assert text.endswith("}\n")
    assert json.loads(text) == configs_to_dict(simple_configs())
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_specific_values_win_over_shared_ones(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "configuration": {
                    "shared": {"label_field": "y", "instance_count": 2},
                    "specific": {"XGBoostTraining": {"instance_count": 4}},
                },
                "metadata": {
                    "config_types": {
                        "TabularPreprocessing_training": "TabularPreprocessingConfig",
                        "XGBoostTraining": "XGBoostTrainingConfig",
                    }
                },
            }
        )
    )
    configs = load_configs(path)
    assert configs["XGBoostTraining"].instance_count == 4
    assert configs["TabularPreprocessing_training"].instance_count == 2
    assert configs["XGBoostTraining"].label_field == "y"
    # job_type comes from the node name when the file leaves it out
    assert configs["TabularPreprocessing_training"].job_type == "training"
    assert configs["XGBoostTraining"].job_type is None


def test_default_configs_cover_every_node_with_its_class() -> None:
    dag = load_dag("pytorch_e2e")
    configs = default_configs(dag)
    assert list(configs) == dag.nodes
    assert type(configs["PyTorchTraining"]).__name__ == "PyTorchTrainingConfig"
    assert configs["ModelCalibration_calibration"].job_type == "calibration"
    assert configs["Package"].job_type is None
    assert check_configs_cover_dag(configs, dag, "<test>") == []


def test_default_configs_apply_shared_values_only_where_the_field_exists() -> None:
    configs = default_configs(load_dag("xgboost_e2e"), n_bins=20, author="me")
    assert configs["ModelCalibration_calibration"].n_bins == 20
    assert not hasattr(configs["Package"], "n_bins")
    assert {c.author for c in configs.values()} == {"me"}


def test_default_configs_refuse_unknown_and_bad_values() -> None:
    dag = load_dag("xgboost_simple")
    with pytest.raises(
        ConfigError,
        match="'lable_field' is not a field of any config class; did you mean 'label_field'",
    ):
        default_configs(dag, lable_field="y")
    with pytest.raises(ConfigError, match="field 'pipeline_version': use a semantic version"):
        default_configs(dag, pipeline_version="one")
    with pytest.raises(SpecError, match="'Trainer'"):
        default_configs(PipelineDAG(["Trainer"]))


def test_all_problems_of_a_file_are_reported_together(tmp_path: Path) -> None:
    dag = load_dag("xgboost_simple")
    data = configs_to_dict(simple_configs())
    data["configuration"]["specific"]["XGBoostTraining"]["instance_count"] = "two"
    data["configuration"]["specific"]["DataLoading_training"]["colour"] = "red"
    data["configuration"]["shared"]["lable_field"] = "y"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValidationFailed) as info:
        load_configs(path, dag)
    messages = [str(p) for p in info.value.problems]
    assert len(messages) == 3
    assert any("shared field 'lable_field'" in m for m in messages)
    assert any("'DataLoading_training': unknown field 'colour'" in m for m in messages)
    assert any("'XGBoostTraining', field 'instance_count'" in m for m in messages)
    # a node whose config failed is not also reported as having no config
    assert not any("has no config" in m for m in messages)


def test_read_configs_keeps_what_built(tmp_path: Path) -> None:
    data = configs_to_dict(simple_configs())
    data["configuration"]["specific"]["XGBoostTraining"]["retries"] = -1
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    configs, problems, broken = read_configs(path)
    assert sorted(configs) == ["DataLoading_training", "TabularPreprocessing_training"]
    assert broken == {"XGBoostTraining"}
    assert len(problems) == 1
    assert "field 'retries': Input should be greater than or equal to 0 (got -1)" in str(
        problems[0]
    )


def test_a_bad_shared_value_is_reported_once_not_per_node(tmp_path: Path) -> None:
    data = configs_to_dict(simple_configs())
    data["configuration"]["shared"]["pipeline_version"] = "1.0"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as info:
        load_configs(path)
    assert str(info.value) == (
        f"{path}: shared field 'pipeline_version': use a semantic version such as 1.0.0 (got '1.0')"
    )


def test_coverage_check_catches_in_memory_configs_that_disagree_with_the_dag() -> None:
    dag = load_dag("xgboost_simple")
    configs = default_configs(dag)
    configs["DataLoading_training"] = DataLoadingConfig(job_type="calibration")
    configs["XGBoostTraining"] = PackageConfig()
    del configs["TabularPreprocessing_training"]
    messages = [str(p) for p in check_configs_cover_dag(configs, dag, "cfg.json")]
    assert messages == [
        "cfg.json: node 'DataLoading_training', field 'job_type' is 'calibration' but the node name "
        "says 'training'; make them agree (or leave job_type unset)",
        "cfg.json: DAG node 'TabularPreprocessing_training' has no config; add it to "
        "\"metadata.config_types\" as 'TabularPreprocessingConfig' (or run `cursus config init` to write one)",
        "cfg.json: node 'XGBoostTraining' is configured as PackageConfig but step type XGBoostTraining "
        'needs XGBoostTrainingConfig; change it in "metadata.config_types"',
    ]


def test_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"no such config file; create one with `cursus config init DAG -o "
    ):
        load_configs(tmp_path / "config.json")


def test_an_unwritable_path_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    with pytest.raises(
        ConfigError, match=r"cannot write the config \(.*\); choose a writable path"
    ):
        save_configs(simple_configs(), blocker / "config.json")
