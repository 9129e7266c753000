"""`cursus deploy MODEL --engine sagemaker`: a SageMaker real-time endpoint for a packaged model.

The model.tar.gz goes to S3 as it is (its code/inference.py is what the framework image's
serving toolkit runs, the same file the image twins' serving test drives), then the SageMaker
SDK's `Model(...).deploy(...)` creates the Model, the EndpointConfig and the Endpoint, with the
inference image of the model's framework (cursus.frameworks) and the environment the compiled
pipelines' models get. Telemetry is opted out in the SDK session, so nothing but the SageMaker
and S3 APIs is called (boto3 honours AWS_ENDPOINT_URL, which is how the tests reach a local AWS
stand-in). `endpoint_state` and `delete_endpoint` read and remove what was created.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cursus.errors import CursusError
from cursus.mlops.project import MLOpsError

DEFAULT_INSTANCE_TYPE = "ml.m5.large"
WAIT_TIMEOUT = 30 * 60.0  # SageMaker creates an endpoint in about 5 to 15 minutes
WAIT_POLL = 15.0
ROLE_ENV = "CURSUS_SAGEMAKER_ROLE"
KEY_PREFIX = "cursus/endpoints"
_AWS_NAME = re.compile(r"[^A-Za-z0-9]+")
HEALTH = {
    "InService": "healthy",
    "Creating": "starting",
    "Updating": "starting",
    "SystemUpdating": "starting",
    "RollingBack": "unresponsive",
    "OutOfService": "unresponsive",
    "Deleting": "stopping",
    "Failed": "failed",
    "UpdateRollbackFailed": "failed",
}


def aws_name(name: str) -> str:
    """A SageMaker resource name for `name`: letters, digits and single hyphens, at most 63."""
    cleaned = _AWS_NAME.sub("-", name).strip("-")[:63].rstrip("-")
    if not cleaned:
        raise MLOpsError(
            f"deployment name {name!r} has no letter or digit for a SageMaker endpoint name"
        )
    return cleaned


def _archive_meta(archive: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile("model_meta.json")
            return json.load(member) if member is not None else {}
    except (KeyError, tarfile.TarError, OSError, ValueError):
        return {}


def _image(meta: dict[str, Any], region: str, instance_type: str, archive: Path) -> str:
    from cursus.backends.sagemaker.build import image_uri
    from cursus.frameworks import FrameworkError, get_framework

    name = str(meta.get("framework") or "")
    try:
        framework = get_framework(name, f"{archive} (model_meta.json)")
    except FrameworkError as exc:
        raise MLOpsError(f"cannot pick a serving image: {exc}") from None
    image = framework.default
    try:
        return image_uri(
            framework.image, region, image.version, image.py_version, instance_type, "inference"
        )
    except ValueError as exc:
        raise MLOpsError(
            f"no {framework.image} {image.version} inference image for {instance_type} in "
            f"{region}: {exc}"
        ) from None


def sdk_session(region: str | None) -> Any:
    """A SageMaker SDK session on boto3's credentials, telemetry opted out."""
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    import logging

    # "Not applying SDK defaults from location ..." for each config file it looks for
    logging.getLogger("sagemaker.config").setLevel(logging.WARNING)
    from sagemaker.session import Session

    from cursus.backends.sagemaker.aws import aws_session

    boto = aws_session(region)
    config = {
        "SchemaVersion": "1.0",
        "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
    }
    return Session(boto_session=boto, sagemaker_config=config)


def create_endpoint(
    archive: Path,
    digest: str,
    name: str,
    replicas: int = 1,
    role: str | None = None,
    region: str | None = None,
    bucket: str | None = None,
    instance_type: str | None = None,
    wait: bool = True,
    on_step: Any = None,
) -> dict[str, Any]:
    """Upload `archive` and create its Model, EndpointConfig and Endpoint (`replicas`
    instances); with `wait`, poll until the endpoint leaves Creating (SageMaker takes minutes;
    `on_step` hears each status). Returns the deployment record."""
    from cursus.backends.sagemaker.aws import aws_errors
    from cursus.backends.sagemaker.build import SERVING_ENV

    role = role or os.environ.get(ROLE_ENV)
    if not role:
        raise MLOpsError(
            f"a SageMaker endpoint needs an execution role: pass --role ARN or set {ROLE_ENV} "
            "(the role SageMaker assumes to pull the image and read the model from S3)"
        )
    instance_type = instance_type or DEFAULT_INSTANCE_TYPE
    endpoint_name = aws_name(name)
    session = sdk_session(region)
    region = session.boto_region_name
    meta = _archive_meta(archive)
    image = _image(meta, region, instance_type, archive)
    s3 = session.boto_session.client("s3")
    bucket = bucket or _default_bucket(session, s3)
    key = f"{KEY_PREFIX}/{endpoint_name}/{digest[:16]}/model.tar.gz"
    with aws_errors(f"uploading {archive} to s3://{bucket}/{key}"):
        s3.upload_file(str(archive), bucket, key)
    model_data = f"s3://{bucket}/{key}"

    from sagemaker.model import Model

    model_name = aws_name(f"{endpoint_name[:54]}-{digest[:8]}")
    model = Model(
        image_uri=image,
        model_data=model_data,
        role=role,
        env={**SERVING_ENV, "SAGEMAKER_REGION": region},
        name=model_name,
        sagemaker_session=session,
    )
    with aws_errors(f"creating SageMaker endpoint {endpoint_name}"):
        model.deploy(
            initial_instance_count=replicas,
            instance_type=instance_type,
            endpoint_name=endpoint_name,
            wait=False,  # the SDK's wait sleeps 30 s before it first looks
        )
    described = _wait(session.sagemaker_client, endpoint_name, wait, on_step or (lambda _: None))
    if described["EndpointStatus"] == "Failed":
        raise MLOpsError(
            f"SageMaker endpoint {endpoint_name} failed: {described.get('FailureReason', '')}; "
            f"`cursus deployments stop {name}` removes it"
        )
    return {
        "name": name,
        "engine": "sagemaker",
        "replicas": replicas,
        "sha256": digest,
        "region": region,
        "endpoint_name": endpoint_name,
        "endpoint_arn": described["EndpointArn"],
        "endpoint_config_name": described["EndpointConfigName"],
        "model_name": model_name,
        "image_uri": image,
        "model_data": model_data,
        "instance_type": instance_type,
        "role": role,
        "status": described["EndpointStatus"],
        "url": (
            f"https://runtime.sagemaker.{region}.amazonaws.com/endpoints/{endpoint_name}"
            "/invocations"
        ),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _wait(sm: Any, endpoint_name: str, wait: bool, say: Any) -> dict[str, Any]:
    from cursus.backends.sagemaker.aws import aws_errors

    deadline = time.monotonic() + WAIT_TIMEOUT
    delay = 1.0
    while True:
        with aws_errors(f"describing SageMaker endpoint {endpoint_name}"):
            described: dict[str, Any] = sm.describe_endpoint(EndpointName=endpoint_name)
        status = described["EndpointStatus"]
        if not wait or status not in ("Creating", "Updating") or time.monotonic() > deadline:
            return described
        say(f"endpoint {endpoint_name}: {status}")
        time.sleep(delay)
        delay = min(delay * 2, WAIT_POLL)


def _default_bucket(session: Any, s3: Any) -> str:
    """sagemaker-REGION-ACCOUNT, the SDK's default bucket, created when missing. The SDK's own
    `default_bucket()` asks STS at its regional AWS address, past AWS_ENDPOINT_URL."""
    from botocore.exceptions import ClientError

    from cursus.backends.sagemaker.aws import aws_errors

    region = session.boto_region_name
    with aws_errors("finding the AWS account (for the default bucket; or pass --bucket)"):
        account = session.boto_session.client("sts").get_caller_identity()["Account"]
    bucket = f"sagemaker-{region}-{account}"
    with aws_errors(f"checking bucket {bucket}"):
        try:
            s3.head_bucket(Bucket=bucket)
            return bucket
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                raise
    with aws_errors(f"creating bucket {bucket}"):
        where = (
            {}
            if region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        s3.create_bucket(Bucket=bucket, **where)
    return bucket


def _client(record: dict[str, Any]) -> Any:
    """A SageMaker client that gives up in seconds (a listing or the dashboard waits on it)."""
    from botocore.config import Config

    from cursus.backends.sagemaker.aws import aws_session

    config = Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 2})
    return aws_session(record.get("region")).client("sagemaker", config=config)


def endpoint_state(record: dict[str, Any]) -> dict[str, Any]:
    """{"alive", "health", "status"} of the recorded endpoint, from DescribeEndpoint; an AWS
    error makes the health "unknown" with the reason (listing never fails on it)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        described = _client(record).describe_endpoint(EndpointName=record["endpoint_name"])
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationException" and "not" in error.get("Message", ""):
            return {"alive": False, "health": "stopped", "status": "Deleted"}
        return {"alive": True, "health": "unknown", "status": f"{error.get('Code')}"}
    except (BotoCoreError, CursusError, OSError) as exc:  # no region, credentials or network
        return {"alive": True, "health": "unknown", "status": f"{type(exc).__name__}: {exc}"}
    status = str(described.get("EndpointStatus", ""))
    return {"alive": True, "health": HEALTH.get(status, "unknown"), "status": status}


def delete_endpoint(record: dict[str, Any]) -> bool:
    """Delete the endpoint, its config and its model (each only if it is there); True when the
    endpoint was there."""
    from botocore.exceptions import ClientError

    from cursus.backends.sagemaker.aws import aws_errors

    sm = _client(record)
    existed = True
    for action, call, argument, value in (
        ("endpoint", sm.delete_endpoint, "EndpointName", record["endpoint_name"]),
        (
            "endpoint config",
            sm.delete_endpoint_config,
            "EndpointConfigName",
            record.get("endpoint_config_name") or record["endpoint_name"],
        ),
        ("model", sm.delete_model, "ModelName", record.get("model_name")),
    ):
        if not value:
            continue
        with aws_errors(f"deleting SageMaker {action} {value}"):
            try:
                call(**{argument: value})
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ValidationException":
                    raise
                if action == "endpoint":
                    existed = False
    return existed
