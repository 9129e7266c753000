"""deploy / start / executions against moto's AWS stand-in on 127.0.0.1 (never the network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _sagemaker_support import BUCKET
from click.testing import CliRunner

from cursus.api.loading import load_dag
from cursus.backends.sagemaker import AWSCallError, list_executions, upsert
from cursus.backends.sagemaker import start_pipeline as start
from cursus.cli.main import cli
from cursus.cli.sagemaker import resolve_pipeline
from cursus.core.compiler import PipelineDAGCompiler
from cursus.errors import CursusError
from cursus.targets import compile_dag


def deploy(dag: str, config: Path) -> Any:
    """What `cursus sagemaker deploy` does: compile, then upload and upsert."""
    return upsert(compile_dag(dag, config, "sagemaker"))


def _clients() -> tuple[Any, Any]:
    import boto3

    return boto3.client("s3"), boto3.client("sagemaker")


@pytest.fixture(scope="module")
def deployed(aws: str, configs: dict[str, Path]) -> dict[str, Any]:
    """xgboost_e2e deployed twice: created, then updated."""
    first = deploy("xgboost_e2e", configs["xgboost_e2e"])
    second = deploy("xgboost_e2e", configs["xgboost_e2e"])
    return {"first": first, "second": second}


def test_deploy_creates_the_pipeline_with_the_compiled_definition(
    deployed: dict[str, Any], compiled: dict[str, Any]
) -> None:
    first = deployed["first"]
    assert first.created and first.pipeline_name == "xgboost-e2e"
    _, sm = _clients()
    stored = sm.describe_pipeline(PipelineName="xgboost-e2e")
    assert json.loads(stored["PipelineDefinition"]) == compiled["xgboost_e2e"].definition_dict()
    assert stored["RoleArn"] == compiled["xgboost_e2e"].target.role
    assert stored["PipelineArn"] == first.pipeline_arn


def test_code_objects_are_in_s3_at_their_deterministic_keys(
    deployed: dict[str, Any], compiled: dict[str, Any]
) -> None:
    s3, _ = _clients()
    code = compiled["xgboost_e2e"].code
    assert sorted(deployed["first"].uploaded) == sorted(code)
    for uri, body in code.items():
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        assert bucket == BUCKET
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    # every code object the definition points at was uploaded
    definition = compiled["xgboost_e2e"].definition()
    for uri in code:
        assert uri in definition


def test_deploying_again_updates_and_uploads_nothing(deployed: dict[str, Any]) -> None:
    second = deployed["second"]
    assert not second.created
    assert second.uploaded == []
    assert sorted(second.already_present) == sorted(deployed["first"].uploaded)
    assert second.pipeline_arn == deployed["first"].pipeline_arn


def test_start_and_list_executions(deployed: dict[str, Any], configs: dict[str, Path]) -> None:
    by_name = start("xgboost-e2e", parameters={"KmsKeyId": "alias/k"}, display_name="first")
    by_dag = start(resolve_pipeline("xgboost_e2e", str(configs["xgboost_e2e"]))[0])
    assert by_dag["pipeline_name"] == "xgboost-e2e"
    _, sm = _clients()
    stored = sm.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=by_name["execution_arn"]
    )["PipelineParameters"]
    assert {"Name": "KmsKeyId", "Value": "alias/k"} in stored
    listed = list_executions("xgboost-e2e")
    assert {e["execution_arn"] for e in listed} >= {
        by_name["execution_arn"],
        by_dag["execution_arn"],
    }
    assert all(e["status"] for e in listed)


@pytest.mark.parametrize(
    ("parameters", "words"),
    [
        ({"Nope": "1"}, "has no parameters ['Nope']"),
        ({"VpcSubnet": "subnet-1"}, "deploy with --param VpcSubnet"),
    ],
)
def test_start_refuses_parameters_the_pipeline_does_not_use(
    deployed: dict[str, Any], parameters: dict, words: str
) -> None:
    with pytest.raises(CursusError) as caught:
        start("xgboost-e2e", parameters=parameters)
    assert words in str(caught.value)
    assert caught.value.exit_code == 2


def test_aws_failures_are_one_line_errors(aws: str, make_config: Any) -> None:
    with pytest.raises(AWSCallError, match="Could not find pipeline") as caught:
        start("no-such-pipeline")
    assert caught.value.exit_code == 1
    config = make_config(shared={"bucket": "bucket-that-is-not-there"})
    with pytest.raises(AWSCallError, match="bucket-that-is-not-there"):
        deploy("xgboost_simple", config)


def test_the_sdk_pipeline_from_the_compiler_can_be_upserted(aws: str, make_config: Any) -> None:
    config = make_config(shared={"pipeline_name": "from-compiler"})
    pipeline = PipelineDAGCompiler(config).compile(load_dag("xgboost_simple"), target="sagemaker")
    result = upsert(pipeline)
    assert result.created and result.pipeline_name == "from-compiler"
    with pytest.raises(CursusError, match="not compiled by Cursus"):
        upsert(object())


def test_cli_deploy_start_executions(aws: str, make_config: Any) -> None:
    config = make_config(shared={"pipeline_name": "cli-pipeline"})
    runner = CliRunner()
    deployed = runner.invoke(
        cli,
        ["sagemaker", "deploy", "xgboost_simple", "-c", str(config), "--param", "KmsKeyId=k1"],
    )
    assert deployed.exit_code == 0, deployed.output
    assert deployed.output.startswith("created pipeline cli-pipeline")
    _, sm = _clients()
    stored = json.loads(sm.describe_pipeline(PipelineName="cli-pipeline")["PipelineDefinition"])
    assert {"Name": "KmsKeyId", "Type": "String", "DefaultValue": "k1"} in stored["Parameters"]
    assert (
        stored
        == compile_dag("xgboost_simple", config, parameters={"KmsKeyId": "k1"}).definition_dict()
    )

    started = runner.invoke(
        cli, ["sagemaker", "start", "cli-pipeline", "--param", "KmsKeyId=k2", "--json"]
    )
    assert started.exit_code == 0, started.output
    arn = json.loads(started.output)["execution_arn"]
    again = runner.invoke(cli, ["sagemaker", "start", "xgboost_simple", "-c", str(config)])
    assert again.exit_code == 0 and again.output.startswith("started cli-pipeline")

    listed = runner.invoke(cli, ["sagemaker", "executions", "cli-pipeline", "--json"])
    assert listed.exit_code == 0
    assert arn in {row["execution_arn"] for row in json.loads(listed.output)}
    text = runner.invoke(cli, ["sagemaker", "executions", "cli-pipeline"])
    assert arn in text.output

    bad = runner.invoke(cli, ["sagemaker", "start", "cli-pipeline", "--param", "KmsKeyId"])
    assert bad.exit_code == 2 and bad.output.count("\n") == 1
    missing = runner.invoke(cli, ["sagemaker", "executions", "no-such-pipeline"])
    assert missing.exit_code == 1
    assert missing.output.startswith("error: listing executions of no-such-pipeline")
    assert missing.output.count("\n") == 1
