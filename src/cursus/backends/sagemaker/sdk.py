"""The SageMaker SDK, imported only when a command needs it, and a session that never leaves this
machine.

Building a definition with SDK 2.x still makes S3 calls: `default_bucket()` lists buckets, and a
FrameworkProcessor given local code uploads it while `definition()` runs (the builder gives it S3
URIs of its own bundles instead). The offline session answers S3 calls in-process, through a
botocore `before-send` handler on its own boto3 session, and keeps anything the SDK uploads; any
other AWS call raises. The SDK's telemetry (an HTTPS request outside botocore) is switched off
while the builder runs (`quiet_sdk`).
"""

from __future__ import annotations

import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit

from cursus.backends.sagemaker.errors import SageMakerUnavailable
from cursus.errors import CursusError

INSTALL_HINT = "pip install 'cursus-ml-pipelines[sagemaker]'"
_FAKE_CREDENTIALS = {"aws_access_key_id": "offline", "aws_secret_access_key": "offline"}


def load_sdk() -> ModuleType:
    """`import sagemaker` (2.x) without its import-time network probe and console noise."""
    if "sagemaker.workflow.pipeline" in sys.modules:
        return sys.modules["sagemaker"]
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    config_logger = logging.getLogger("sagemaker.config")
    if config_logger.level == logging.NOTSET:  # else the SDK logs its config search to stdout
        config_logger.setLevel(logging.WARNING)
    # The import builds a default session, which asks the EC2 instance metadata service for
    # credentials when none are configured: a network call with a timeout. Off for the import
    # only, so later real sessions (deploy on an EC2 instance) can still use instance roles.
    saved = os.environ.get("AWS_EC2_METADATA_DISABLED")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    root = logging.getLogger()
    root_state = (list(root.handlers), root.level)
    try:
        with warnings.catch_warnings():  # invalid escape sequences in SDK modules
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", SyntaxWarning)
            import sagemaker
            import sagemaker.workflow.pipeline
    except ImportError as exc:
        raise SageMakerUnavailable(
            f"the SageMaker backend needs the SageMaker Python SDK 2.x ({exc}); {INSTALL_HINT}"
        ) from None
    finally:
        if saved is None:
            os.environ.pop("AWS_EC2_METADATA_DISABLED", None)
        else:
            os.environ["AWS_EC2_METADATA_DISABLED"] = saved
        if not root_state[0]:  # a few SDK modules call logging.basicConfig(INFO) on import
            for handler in root.handlers[:]:
                root.removeHandler(handler)
            root.setLevel(root_state[1])
    major = sagemaker.__version__.split(".")[0]
    if major != "2":
        raise SageMakerUnavailable(
            f"the SageMaker backend needs SDK 2.x (sagemaker.workflow); found "
            f"{sagemaker.__version__}: pip install 'sagemaker>=2.257,<3'"
        )
    return sagemaker


class OfflineCallError(CursusError):
    """The SDK tried an AWS call that compiling must not make."""


class _Body(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


class OfflineS3:
    """A botocore `before-send` handler: answers the S3 calls of a definition build from memory
    and records every object the SDK uploads (S3 URI -> bytes)."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self.uploads: dict[str, bytes] = {}

    def __call__(self, request: Any, event_name: str = "", **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        _event, service, operation = [*event_name.split("."), "", ""][:3]
        if service != "s3":
            raise OfflineCallError(
                f"compiling is offline, but the SageMaker SDK called {service}.{operation}; "
                "deploy and start talk to AWS (`cursus sagemaker deploy`)"
            )
        body = b""
        if operation == "ListBuckets":
            body = (
                "<ListAllMyBucketsResult><Buckets><Bucket><Name>"
                f"{self.bucket}</Name><CreationDate>2000-01-01T00:00:00.000Z</CreationDate>"
                "</Bucket></Buckets><Owner><ID>offline</ID></Owner></ListAllMyBucketsResult>"
            ).encode()
        elif operation == "PutObject":
            self.uploads[self._uri(request.url)] = _payload(request.body)
        elif operation not in ("HeadBucket", "CreateBucket"):
            raise OfflineCallError(
                f"compiling is offline, but the SageMaker SDK called s3.{operation} on {request.url}"
            )
        return AWSResponse(request.url, 200, {"ETag": '"offline"'}, _Body(body))

    def _uri(self, url: str) -> str:
        parts = urlsplit(url)
        path = unquote(parts.path).lstrip("/")
        if parts.hostname and parts.hostname.startswith(f"{self.bucket}."):
            return f"s3://{self.bucket}/{path}"  # virtual-hosted style
        return f"s3://{path}"  # path style: /bucket/key


def _payload(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    position = body.tell() if hasattr(body, "tell") else None
    data = body.read()
    if position is not None:
        body.seek(position)
    return data if isinstance(data, bytes) else str(data).encode()


@cache
def botocore_loader() -> Any:
    """One botocore data loader for every session Cursus makes: it caches the JSON it reads
    (endpoints, service models), which otherwise each new session parses again (~0.1-0.4 s)."""
    from botocore.loaders import create_loader

    return create_loader()


def offline_session(region: str, bucket: str) -> tuple[Any, OfflineS3]:
    """A PipelineSession bound to `region` and `bucket` whose AWS calls never leave the process.

    The handler stays on the session: calling `definition()` again on a pipeline built with it
    is offline too, and `upsert()` on it fails loudly instead of reaching AWS with fake keys."""
    load_sdk()
    import boto3
    import botocore.session
    from sagemaker.workflow.pipeline_context import PipelineSession

    core = botocore.session.get_session()
    core.register_component("data_loader", botocore_loader())
    boto_session = boto3.Session(region_name=region, botocore_session=core, **_FAKE_CREDENTIALS)
    s3 = OfflineS3(bucket)
    boto_session.events.register("before-send", s3)
    session = PipelineSession(boto_session=boto_session, default_bucket=bucket)
    return session, s3


@contextmanager
def quiet_sdk() -> Iterator[None]:
    """While the SDK builds a definition: nothing that reaches the network, and none of its
    INFO/WARNING chatter (it warns about fields it drops on purpose, such as job names).

    Two SDK side effects are switched off for the duration, both outside the offline session:
    - telemetry, sent from `Estimator.fit` (which only records step arguments under a
      PipelineSession) as an STS call and an HTTPS request. Opting out through the SDK config
      instead would make every later config lookup re-validate its schema (definition() from
      ~0.02 s to ~2 s);
    - the TensorBoard app helper every estimator (and FrameworkProcessor) creates, which makes a
      client from boto3's default session and so resolves credentials: with none configured,
      botocore asks the EC2 instance metadata service, a network call.
    And one speed-up: the SDK re-reads botocore's endpoint data for every image URI it looks up
    (~0.2 s each); the shared loader reads it once."""
    import sagemaker.estimator
    import sagemaker.utils
    from sagemaker.telemetry import telemetry_logging

    sdk_logger = logging.getLogger("sagemaker")
    level = sdk_logger.level
    send = telemetry_logging._send_telemetry_request
    tensorboard_app = sagemaker.estimator.TensorBoardApp
    resolver = sagemaker.utils._botocore_resolver
    sdk_logger.setLevel(logging.ERROR)
    telemetry_logging._send_telemetry_request = _no_telemetry
    setattr(sagemaker.estimator, "TensorBoardApp", _NoApp)  # noqa: B010 - a class, patched
    sagemaker.utils._botocore_resolver = _endpoint_resolver
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Running within a PipelineSession")
            # ModelStep itself uses the CreateModelStep it deprecates
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="sagemaker")
            yield
    finally:
        telemetry_logging._send_telemetry_request = send
        setattr(sagemaker.estimator, "TensorBoardApp", tensorboard_app)  # noqa: B010
        sagemaker.utils._botocore_resolver = resolver
        sdk_logger.setLevel(level)


def _no_telemetry(*_: Any, **__: Any) -> None:
    return None


def _endpoint_resolver() -> Any:
    """What `sagemaker.utils._botocore_resolver` returns, from the shared (caching) loader."""
    from botocore.regions import EndpointResolver

    return EndpointResolver(botocore_loader().load_data("endpoints"))


class _NoApp:
    """Stands in for the SDK's TensorBoardApp, which a pipeline definition never uses."""

    def __init__(self, region: str | None = None) -> None:
        self.region = region
