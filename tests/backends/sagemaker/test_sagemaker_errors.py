"""Input SageMaker would refuse is refused at compile time, naming the node and the field."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _sagemaker_support import steps_by_name
from click.testing import CliRunner

from cursus.backends.sagemaker import SageMakerConfigError
from cursus.cli.main import cli
from cursus.errors import ConfigError, CursusError, ValidationFailed
from cursus.targets import compile_dag

LONG = "a" * 60


@pytest.mark.parametrize(
    ("shared", "specific", "node", "field", "words"),
    [
        ({"role": None}, {}, "DataLoading_training", "role", "is not set"),
        ({"bucket": None}, {}, "DataLoading_training", "bucket", "is not set"),
        ({"region": "us-east-7"}, {}, "DataLoading_training", "region", "did you mean us-east-"),
        ({"bucket": "s3://my-bucket"}, {}, "DataLoading_training", "bucket", "without s3://"),
        ({"bucket": "My_Bucket"}, {}, "DataLoading_training", "bucket", "not a valid S3 bucket"),
        ({"role": "SageMakerRole"}, {}, "DataLoading_training", "role", "not an IAM role ARN"),
        (
            {},
            {"XGBoostTraining": {"instance_type": "ml.m5.huge"}},
            "XGBoostTraining",
            "instance_type",
            "ml.m5 comes in sizes large, xlarge",
        ),
        (
            {},
            {"XGBoostTraining": {"instance_type": "ml.q9.xlarge"}},
            "XGBoostTraining",
            "instance_type",
            "SageMaker does not offer",
        ),
        (
            {},
            {"TabularPreprocessing_training": {"instance_type": "local"}},
            "TabularPreprocessing_training",
            "instance_type",
            "SageMaker does not offer",
        ),
        (
            {},
            {"XGBoostTraining": {"label_field": "x" * 600}},
            "XGBoostTraining",
            "env LABEL_FIELD",
            "at most 512",
        ),
        (
            {},
            {"TabularPreprocessing_training": {"input_bindings": {"data_input": "/data/x.csv"}}},
            "TabularPreprocessing_training",
            "input_bindings.data_input",
            "bind an s3:// URI",
        ),
    ],
)
def test_bad_values_name_node_and_field(
    make_config: Any, shared: dict, specific: dict, node: str, field: str, words: str
) -> None:
    config = make_config("xgboost_simple", shared=shared, specific=specific)
    with pytest.raises(SageMakerConfigError) as caught:
        compile_dag("xgboost_simple", config)
    assert (caught.value.node, caught.value.field) == (node, field)
    assert str(caught.value).startswith(f"{node}: field '{field}'")
    assert words in str(caught.value)


def test_a_model_package_group_name_sagemaker_refuses(make_config: Any) -> None:
    config = make_config("xgboost_e2e", specific={"Registration": {"model_name": "my_model"}})
    with pytest.raises(SageMakerConfigError, match="Registration: field 'model_name'"):
        compile_dag("xgboost_e2e", config)


def test_an_empty_region_is_refused_with_the_config(make_config: Any) -> None:
    with pytest.raises(ConfigError, match="field 'region': use an AWS region such as us-east-1"):
        make_config("xgboost_simple", shared={"region": ""})


def test_a_first_system_region_code_names_its_aws_region(make_config: Any) -> None:
    with pytest.raises(ConfigError, match="'EU' is a region code of the first system, not an AWS"):
        make_config("xgboost_simple", shared={"region": "EU"})


def test_a_processing_value_too_long_for_sagemaker_travels_in_the_launcher(
    make_config: Any,
) -> None:
    """SageMaker takes 256 characters per Environment value of a processing job; a longer one
    (hundreds of feature names) is exported by the step's runproc.sh instead."""
    columns = [f"feature_{i:03d}" for i in range(40)]
    config = make_config(
        "xgboost_simple",
        specific={"TabularPreprocessing_training": {"feature_columns": columns}},
    )
    compiled = compile_dag("xgboost_simple", config)
    steps = steps_by_name(compiled.definition_dict())
    env = steps["TabularPreprocessing_training"]["Arguments"]["Environment"]
    assert "FEATURE_COLUMNS" not in env and "LABEL_FIELD" in env
    inputs = steps["TabularPreprocessing_training"]["Arguments"]["ProcessingInputs"]
    launcher_uri = next(i["S3Input"]["S3Uri"] for i in inputs if i["InputName"] == "entrypoint")
    script = compiled.code[launcher_uri].decode()
    export = next(line for line in script.splitlines() if line.startswith("export "))
    assert export == "export FEATURE_COLUMNS=" + shlex.quote(json.dumps(columns))
    assert script.index(export) < script.index("exec python")
    # the value the script reads back is the list
    shell = subprocess.run(
        ["bash", "-c", f'{export}; printf %s "$FEATURE_COLUMNS"'], capture_output=True, text=True
    )
    assert json.loads(shell.stdout) == columns


def test_a_node_name_too_long_for_a_step_name(tmp_path: Path) -> None:
    from cursus.api.dag import PipelineDAG
    from cursus.core.config_file import default_configs, save_configs

    dag = PipelineDAG()
    dag.add_node(f"DataLoading_{LONG}")
    configs = default_configs(dag, role="arn:aws:iam::123456789012:role/R", bucket="bkt")
    configs[f"DataLoading_{LONG}"].data_source = "s3://bkt/data/"
    config = save_configs(configs, tmp_path / "c.json")
    with pytest.raises(SageMakerConfigError) as caught:
        compile_dag(dag, config)
    assert caught.value.node == f"DataLoading_{LONG}"
    assert caught.value.field == "node name"
    assert "at most 64" in str(caught.value)


def test_an_image_sagemaker_does_not_have(make_config: Any) -> None:
    config = make_config(specific={"XGBoostTraining": {"framework_version": "9.9"}})
    with pytest.raises(SageMakerConfigError) as caught:
        compile_dag("xgboost_simple", config)
    assert (caught.value.node, caught.value.field) == ("XGBoostTraining", "framework_version")
    assert "1.7-1" in str(caught.value)  # lists the versions there are


def test_every_problem_is_reported_at_once(make_config: Any) -> None:
    config = make_config(
        shared={"role": None, "bucket": None},
        specific={"XGBoostTraining": {"instance_type": "ml.m5.huge"}},
    )
    with pytest.raises(ValidationFailed) as caught:
        compile_dag("xgboost_simple", config)
    assert {(p.node, p.field) for p in caught.value.problems} == {
        ("DataLoading_training", "role"),
        ("DataLoading_training", "bucket"),
        ("XGBoostTraining", "instance_type"),
    }


@pytest.mark.parametrize(
    ("parameters", "words"),
    [
        ({"Nope": "x"}, "are not parameters of this pipeline"),
        ({"VpcSubnet": "subnet-1"}, "must be given together"),
        ({"ExecutionTempDir": "/tmp/out"}, "use an s3:// prefix"),
    ],
)
def test_bad_parameter_defaults(make_config: Any, parameters: dict, words: str) -> None:
    with pytest.raises(CursusError, match=words):
        compile_dag("xgboost_simple", make_config(), parameters=parameters)


def test_cli_exits_2_with_one_line(make_config: Any) -> None:
    config = make_config(specific={"XGBoostTraining": {"instance_type": "ml.m5.huge"}})
    result = CliRunner().invoke(
        cli, ["compile", "xgboost_simple", "-c", str(config), "--target", "sagemaker"]
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: XGBoostTraining: field 'instance_type'")


def test_cli_missing_role_is_one_line(make_config: Any, tmp_path: Path) -> None:
    config = make_config(shared={"role": None})
    out = tmp_path / "pipeline.json"
    result = CliRunner().invoke(
        cli,
        ["compile", "xgboost_simple", "-c", str(config), "--target", "sagemaker", "-o", str(out)],
    )
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "field 'role' is not set" in result.output
    assert not out.exists()


def test_config_file_is_left_alone(make_config: Any) -> None:
    config = make_config(shared={"role": None})
    before = config.read_text()
    with pytest.raises(SageMakerConfigError):
        compile_dag("xgboost_simple", config)
    assert config.read_text() == before
    assert json.loads(before)["configuration"]["shared"].get("role") is None
