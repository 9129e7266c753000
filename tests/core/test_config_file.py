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
from cursus.steps.library import step_library


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


# ---------------------------------------------------------------- a file written by another system


def first_system_shaped_config() -> dict:
    """A config in the shape the first system writes: its own fields under "shared" and in every
    node (metadata like __model_type__ repeated per node), several step-specific fields per node.
    Values are made up."""
    processing = {
        "processing_entry_point": "run.py",
        "processing_instance_count": 1,
        "processing_source_dir": "src/steps",
        "use_large_processing_instance": False,
    }
    common = {
        "__model_type__": "SomeConfig",
        "aws_region": "us-east-1",
        "pipeline_s3_loc": "s3://b/p",
    }
    return {
        "configuration": {
            "shared": {
                "author": "pat",
                "pipeline_version": "2.0.0",
                "current_date": "2024-01-01",
                "enable_caching": True,
                "service_name": "Demo",
            },
            "specific": {
                "DataLoading_training": {**common, "job_type": "training", "cradle_job_spec": {}},
                "TabularPreprocessing_training": {
                    **common,
                    **processing,
                    "job_type": "training",
                    "label_name": "is_fraud",
                    "train_ratio": 0.8,
                },
                "XGBoostTraining": {
                    **common,
                    "training_entry_point": "train.py",
                    "training_instance_count": 1,
                },
                "ModelCalibration_calibration": {
                    **common,
                    **processing,
                    "job_type": "calibration",
                    "label_name": "is_fraud",
                    "gam_splines": 8,
                    "score_field_prefix": "prob_",
                },
                "Package": {**common, **processing},
                "Registration": {**common, "model_owner": "team", "framework": "xgboost"},
            },
        },
        "metadata": {
            "config_types": {
                "DataLoading_training": "DataLoadingConfig",
                "TabularPreprocessing_training": "TabularPreprocessingConfig",
                "XGBoostTraining": "XGBoostTrainingConfig",
                "ModelCalibration_calibration": "ModelCalibrationConfig",
                "Package": "PackageConfig",
                "Registration": "RegistrationConfig",
            }
        },
    }


def test_one_read_reports_every_unknown_field_once(tmp_path: Path) -> None:
    data = first_system_shaped_config()
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    configs, problems, broken = read_configs(path)
    messages = [str(p) for p in problems]
    # every node carries an unknown field, so none builds
    assert configs == {} and broken == set(data["metadata"]["config_types"])
    # which nodes carry each unknown field under "specific"
    carriers: dict[str, list[str]] = {}
    for node, body in data["configuration"]["specific"].items():
        cls = step_library().config_classes()[data["metadata"]["config_types"][node]]
        for name in body:
            if name not in cls.model_fields:
                carriers.setdefault(name, []).append(node)
    unknown_shared = ["current_date", "enable_caching", "service_name"]
    assert sorted(carriers) == [  # one per node per run, the old reader needed 10 runs for them
        "__model_type__",
        "aws_region",
        "cradle_job_spec",
        "framework",
        "gam_splines",
        "label_name",
        "model_owner",
        "pipeline_s3_loc",
        "processing_entry_point",
        "processing_instance_count",
        "processing_source_dir",
        "score_field_prefix",
        "training_entry_point",
        "training_instance_count",
        "use_large_processing_instance",
    ]
    for name in [*unknown_shared, *carriers]:
        lines = [m for m in messages if f"field '{name}'" in m]
        assert len(lines) == 1, (name, lines)
        assert lines[0].startswith(f"{path}: ")
        for node in carriers.get(name, []):
            assert f"'{node}'" in lines[0]
    # nothing else is wrong, and one line more says which tool maps the first system's fields
    assert len(messages) == len(unknown_shared) + len(carriers) + 1
    assert messages[-1].startswith(f"{path}: 16 of these fields are the first system's (")
    assert messages[-1].endswith(f"`cursus migrate config {path} -o NEW.json` maps them")
    # a field every node repeats is one line naming the nodes, with the fix
    assert (
        f"{path}: unknown field '__model_type__' in 6 nodes ('DataLoading_training', "
        "'TabularPreprocessing_training', 'XGBoostTraining', 'ModelCalibration_calibration', "
        "'Package', 'Registration'); remove it from each of them"
    ) in messages
    assert (
        f"{path}: unknown field 'label_name' in 2 nodes ('TabularPreprocessing_training', "
        "'ModelCalibration_calibration'); did you mean 'label_field'?"
    ) in messages
    assert any(
        m.endswith(
            "unknown field 'aws_region' in 6 nodes ("
            + ", ".join(f"'{n}'" for n in carriers["aws_region"])
            + "); did you mean 'region'?"
        )
        for m in messages
    )
    # a field of one node keeps the one-node wording
    assert (
        f"{path}: node 'ModelCalibration_calibration': unknown field 'score_field_prefix' for "
        "ModelCalibrationConfig; did you mean 'score_field'?"
    ) in messages
    assert (
        f"{path}: node 'ModelCalibration_calibration': unknown field 'gam_splines' for "
        "ModelCalibrationConfig; did you mean 'gam_knots'?"
    ) in messages
    # load_configs raises them all together
    with pytest.raises(ValidationFailed) as info:
        load_configs(path, load_dag("xgboost_simple"))
    assert [str(p) for p in info.value.problems][: len(messages)] == messages


def test_a_close_match_that_differs_by_class_is_named_per_node(tmp_path: Path) -> None:
    data = first_system_shaped_config()
    specific = data["configuration"]["specific"]
    specific["Registration"]["processing_framework_version"] = "1.0"  # model_framework_version
    specific["Package"]["processing_framework_version"] = "1.0"  # no close match
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    _, problems, _ = read_configs(path)
    lines = [str(p) for p in problems if "'processing_framework_version'" in str(p)]
    assert lines == [
        f"{path}: unknown field 'processing_framework_version' in 2 nodes ('Package', "
        "'Registration'); did you mean: in 'Registration' 'model_framework_version'? (otherwise "
        "remove it)"
    ]


def test_a_node_reports_its_unknown_fields_and_every_bad_value(tmp_path: Path) -> None:
    data = configs_to_dict(simple_configs())
    own = data["configuration"]["specific"]["XGBoostTraining"]
    own["training_instance_type"] = "ml.m5.2xlarge"  # unknown
    own["instance_count"] = "two"  # wrong type
    own["retries"] = 99  # out of range
    own["hyperparameters"]["eta"] = 5  # out of range, nested
    own["hyperparameters"]["etaa"] = 0.1  # unknown, nested
    data["configuration"]["specific"]["DataLoading_training"]["job_type"] = "calibration"
    data["configuration"]["specific"]["DataLoading_training"]["random_seed"] = "x"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    configs, problems, broken = read_configs(path)
    assert sorted(configs) == ["TabularPreprocessing_training"]
    assert broken == {"XGBoostTraining", "DataLoading_training"}
    messages = [str(p) for p in problems]
    assert messages == [
        f"{path}: node 'XGBoostTraining': unknown field 'training_instance_type' for "
        "XGBoostTrainingConfig; did you mean 'instance_type'?",
        f"{path}: node 'DataLoading_training', field 'random_seed': Input should be a valid "
        "integer, unable to parse string as an integer (got 'x')",
        f"{path}: node 'DataLoading_training', field 'job_type' is 'calibration' but the node name "
        "says 'training'; make them agree (or leave job_type unset)",
        f"{path}: node 'XGBoostTraining', field 'instance_count': Input should be a valid integer, "
        "unable to parse string as an integer (got 'two')",
        f"{path}: node 'XGBoostTraining', field 'retries': Input should be less than or equal to 10 "
        "(got 99)",
        f"{path}: node 'XGBoostTraining', field 'hyperparameters.eta': Input should be less than "
        "or equal to 1 (got 5)",
        f"{path}: node 'XGBoostTraining', field 'hyperparameters.etaa' is not a known field; "
        "remove it or correct its spelling",
        f"{path}: 1 of these fields are the first system's (training_instance_type); "
        f"`cursus migrate config {path} -o NEW.json` maps them",
    ]


def test_seeds_out_of_range_and_an_empty_label_are_refused_at_validate(tmp_path: Path) -> None:
    """numpy takes seeds from 0 to 2**32-1: outside, the step would fail minutes into a run."""
    data = configs_to_dict(simple_configs())
    specific = data["configuration"]["specific"]
    specific["DataLoading_training"]["random_seed"] = -1
    specific["TabularPreprocessing_training"]["random_seed"] = 2**32
    specific["XGBoostTraining"]["hyperparameters"]["seed"] = 2**40
    specific["XGBoostTraining"]["label_field"] = ""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    _, problems, broken = read_configs(path)
    messages = [str(p) for p in problems]
    assert broken == set(specific)
    assert messages == [
        f"{path}: node 'DataLoading_training', field 'random_seed': Input should be greater than "
        "or equal to 0 (got -1)",
        f"{path}: node 'TabularPreprocessing_training', field 'random_seed': Input should be less "
        "than or equal to 4294967295 (got 4294967296)",
        f"{path}: node 'XGBoostTraining', field 'label_field': String should have at least 1 "
        "character (got '')",
        f"{path}: node 'XGBoostTraining', field 'hyperparameters.seed': Input should be less than "
        "or equal to 4294967295 (got 1099511627776)",
    ]
