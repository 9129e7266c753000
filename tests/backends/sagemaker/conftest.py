"""Fixtures for the SageMaker backend tests.

Nothing here may reach the network: a guard fails any connection or name lookup that is not
loopback. Deploy tests talk to moto's server on 127.0.0.1. Importing the SageMaker SDK takes
seconds, so compiled pipelines are built once per session and shared (read-only).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _sagemaker_support import BUCKET, BUNDLED_DAGS, free_port, write_config

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture(scope="module", autouse=True)
def no_network() -> Iterator[None]:
    """Every connection and DNS lookup must stay on this machine (per module, so the guard ends
    with this folder's tests)."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOOPBACK:
            raise AssertionError(f"a test tried to reach the network: {address}")

    def connect(sock: socket.socket, address: Any) -> None:
        check(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        check(sock, address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in LOOPBACK and host is not None:
            raise AssertionError(f"a test tried to resolve {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    patch = pytest.MonkeyPatch()
    patch.setattr(socket.socket, "connect", connect)
    patch.setattr(socket.socket, "connect_ex", connect_ex)
    patch.setattr(socket, "getaddrinfo", getaddrinfo)
    # no credentials or endpoints of the person running the tests
    for name in list(os.environ):
        if name.startswith("AWS_"):
            patch.delenv(name)
    yield
    patch.undo()


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def make(dag: str = "xgboost_simple", **kwargs: Any) -> Path:
        return write_config(tmp_path / f"config{next(counter)}.json", dag, **kwargs)

    return make


@pytest.fixture(scope="session")
def configs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("configs")
    return {dag: write_config(root / f"{dag}.json", dag) for dag in BUNDLED_DAGS}


@pytest.fixture(scope="session")
def compiled(configs: dict[str, Path]) -> dict[str, Any]:
    """Each bundled DAG compiled once (read-only for the tests)."""
    from cursus.targets import compile_dag

    return {dag: compile_dag(dag, path) for dag, path in configs.items()}


@pytest.fixture(scope="session")
def definitions(compiled: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {dag: c.definition_dict() for dag, c in compiled.items()}


@pytest.fixture(scope="module")
def aws() -> Iterator[str]:
    """moto's AWS stand-in on 127.0.0.1 (a free port), with fake credentials; stopped after the
    module. Yields its endpoint URL; boto3 clients reach it through AWS_ENDPOINT_URL."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # moto keeps its accounts in process-wide state that outlives a server: each module starts
    # from an empty account, whatever modules ran before it in this process
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    patch = pytest.MonkeyPatch()
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        patch.setenv(name, value)
    try:
        import boto3

        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        patch.undo()
        server.stop()
