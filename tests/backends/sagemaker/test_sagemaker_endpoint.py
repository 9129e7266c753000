"""`cursus deploy MODEL --engine sagemaker`: the SDK creates the Model, EndpointConfig and
Endpoint of a real packaged model in moto's AWS stand-in on 127.0.0.1 (this folder's guard fails
any other connection, the SDK's telemetry included); `deployments list` and `stop` manage it."""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
from _sagemaker_support import ROLE
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[2] / "mlops"))
from _mlops_support import Packaged, build_packaged

from cursus.cli.main import cli

MODEL = "endpoint-test"


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    """The xgboost_e2e pipeline's model.tar.gz, registered as endpoint-test version 1: the
    package whose code/inference.py the XGBoost image twin's serving toolkit answers with."""
    return build_packaged(tmp_path_factory.mktemp("endpoint"), MODEL)


def _cli(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def deployed(aws: str, packaged: Packaged) -> dict[str, Any]:
    result = _cli(
        "deploy", f"{MODEL}:1", "--engine", "sagemaker", "--replicas", "2",
        "--role", ROLE, "--name", "xgb_e2e.v1", "--workspace", str(packaged.workspace), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _sagemaker() -> Any:
    import boto3

    return boto3.client("sagemaker")


def test_the_endpoint_serves_the_package_with_its_frameworks_inference_image(
    deployed: dict[str, Any], packaged: Packaged
) -> None:
    sm = _sagemaker()
    assert deployed["endpoint_name"] == "xgb-e2e-v1"  # SageMaker names take no '_' or '.'
    endpoint = sm.describe_endpoint(EndpointName="xgb-e2e-v1")
    assert endpoint["EndpointStatus"] == "InService" == deployed["status"]
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    (variant,) = config["ProductionVariants"]
    assert variant["InitialInstanceCount"] == 2 and variant["InstanceType"] == "ml.m5.large"
    container = sm.describe_model(ModelName=variant["ModelName"])["PrimaryContainer"]
    assert container["Image"].endswith("/sagemaker-xgboost:1.7-1")
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    # the object in S3 is the packaged archive itself, byte for byte
    import boto3

    bucket, key = container["ModelDataUrl"].removeprefix("s3://").split("/", 1)
    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == packaged.archive.read_bytes()
    with tarfile.open(packaged.archive) as tar:
        assert "code/inference.py" in tar.getnames()


def test_deployments_list_shows_the_endpoint(deployed: dict[str, Any], packaged: Packaged) -> None:
    listed = _cli("deployments", "list", "--workspace", str(packaged.workspace), "--json")
    (row,) = [r for r in json.loads(listed.output) if r["name"] == "xgb_e2e.v1"]
    assert row["engine"] == "sagemaker" and row["health"] == "healthy"
    assert row["status"] == "InService" and row["replicas"] == 2
    text = _cli("deployments", "list", "--workspace", str(packaged.workspace)).output
    assert "sagemaker" in text and "xgb-e2e-v1" in text


def test_deploying_the_same_name_again_is_refused(
    deployed: dict[str, Any], packaged: Packaged
) -> None:
    again = _cli(
        "deploy", f"{MODEL}:1", "--engine", "sagemaker", "--role", ROLE,
        "--name", "xgb_e2e.v1", "--workspace", str(packaged.workspace),
    )  # fmt: skip
    assert (
        again.exit_code == 2 and "already running (SageMaker endpoint xgb-e2e-v1)" in again.output
    )


def test_stop_deletes_endpoint_config_and_model(
    deployed: dict[str, Any], packaged: Packaged
) -> None:
    from botocore.exceptions import ClientError

    stopped = _cli("deployments", "stop", "xgb_e2e.v1", "--workspace", str(packaged.workspace))
    assert stopped.exit_code == 0 and "xgb_e2e.v1: endpoint deleted" in stopped.output
    sm = _sagemaker()
    for call, argument, name in (
        (sm.describe_endpoint, "EndpointName", deployed["endpoint_name"]),
        (sm.describe_endpoint_config, "EndpointConfigName", deployed["endpoint_config_name"]),
        (sm.describe_model, "ModelName", deployed["model_name"]),
    ):
        with pytest.raises(ClientError):
            call(**{argument: name})
    listed = _cli("deployments", "list", "--workspace", str(packaged.workspace), "--json")
    assert [r["name"] for r in json.loads(listed.output)] == []


def test_an_endpoint_without_a_role_is_a_one_line_error(
    aws: str, packaged: Packaged, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CURSUS_SAGEMAKER_ROLE", raising=False)
    result = _cli(
        "deploy", f"{MODEL}:1", "--engine", "sagemaker", "--workspace", str(packaged.workspace)
    )
    assert result.exit_code == 2
    assert "needs an execution role: pass --role ARN or set CURSUS_SAGEMAKER_ROLE" in result.output
    assert "Traceback" not in result.output
