"""One packaged model served by every local engine at once, on loopback: FastAPI (`cursus
deploy`), BentoML (`cursus models export-bento`, then `bentoml serve` of the bento) and Ray Serve
(`cursus deploy --engine ray --replicas 2`). The same requests must get the same answers from
each, bad ones the same 4xx; stopping Ray must leave no Ray process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
from _mlops_support import Packaged, build_packaged

from cursus.cli.main import cli
from cursus.mlops import serving
from cursus.mlops.project import MLOpsError, Project, free_port

pytest.importorskip("bentoml")
pytest.importorskip("ray.serve")

MODEL_NAME = "engines-test"
LOOPBACK = ("127.0.0.1", "::ffff:127.0.0.1", "::1")


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    return build_packaged(tmp_path_factory.mktemp("engines"), MODEL_NAME)


@pytest.fixture(scope="module")
def project(packaged: Packaged) -> Project:
    return Project.load("default", packaged.workspace)


@pytest.fixture(scope="module")
def bento_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("bentoml")
    patch = pytest.MonkeyPatch()
    patch.setenv("BENTOML_HOME", str(home))
    patch.setenv("BENTOML_DO_NOT_TRACK", "True")
    yield home
    patch.undo()


def _invoke(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def _wait_for_ping(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"no /ping at {url} within {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def engines(
    packaged: Packaged, project: Project, bento_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The three engines serving the registered model, each on a free loopback port."""
    ref = f"{MODEL_NAME}:1"
    exported = _invoke(
        "models", "export-bento", ref, "--workspace", str(packaged.workspace), "--json"
    )
    assert exported.exit_code == 0, exported.output
    bento = json.loads(exported.output)
    log = tmp_path_factory.mktemp("bento-log") / "bento.log"
    bento_port = free_port()
    with open(log, "wb") as handle:
        bento_proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "bentoml"), "serve", bento["bento_tag"],
             "--host", "127.0.0.1", "--port", str(bento_port)],
            stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )  # fmt: skip
    records: dict[str, Any] = {}
    try:
        records["fastapi"] = serving.deploy_model(project, ref, name="with-fastapi")
        records["ray"] = serving.deploy_model(
            project, ref, name="with-ray", engine="ray", replicas=2
        )
        records["bento"] = {"url": f"http://127.0.0.1:{bento_port}", "bento": bento}
        _wait_for_ping(records["bento"]["url"], bento_proc, log, 120)
        yield records
    finally:
        serving.stop_all(project)
        os.killpg(bento_proc.pid, signal.SIGTERM)
        try:
            bento_proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(bento_proc.pid, signal.SIGKILL)
            bento_proc.wait(5)


def _requests(packaged: Packaged) -> list[tuple[str, dict[str, str], bytes]]:
    rows = packaged.holdout.head(5)
    csv_body = rows.to_csv(header=False, index=False).encode()
    records = json.dumps({"instances": rows.to_dict(orient="records")}).encode()
    lists = json.dumps({"instances": rows.values.tolist()}).encode()
    return [
        ("csv in, json out", {"content-type": "text/csv", "accept": "application/json"}, csv_body),
        ("csv in, csv out", {"content-type": "text/csv", "accept": "text/csv"}, csv_body),
        ("json records", {"content-type": "application/json"}, records),
        ("json rows", {"content-type": "application/json"}, lists),
    ]


def _bad_requests(packaged: Packaged) -> list[tuple[str, dict[str, str], bytes]]:
    width = len(packaged.features)
    return [
        ("too few values", {"content-type": "text/csv"}, b"1,2,3\n"),
        ("a word", {"content-type": "text/csv"}, ",".join(["x"] * width).encode()),
        ("not json", {"content-type": "application/json"}, b"{not json"),
        ("unknown feature", {"content-type": "application/json"}, b'{"instances": [{"zz": 1}]}'),
        ("xml", {"content-type": "application/xml"}, b"<a/>"),
        ("accept xml", {"content-type": "text/csv", "accept": "application/xml"}, b"1\n"),
    ]


def _post(url: str, headers: dict[str, str], body: bytes) -> httpx.Response:
    return httpx.post(f"{url}/invocations", headers=headers, content=body, timeout=30)


def test_every_engine_gives_the_same_predictions(
    engines: dict[str, Any], packaged: Packaged
) -> None:
    for label, headers, body in _requests(packaged):
        answers = {engine: _post(r["url"], headers, body) for engine, r in engines.items()}
        statuses = {engine: a.status_code for engine, a in answers.items()}
        assert set(statuses.values()) == {200}, (label, statuses, answers["bento"].text)
        texts = {engine: a.text for engine, a in answers.items()}
        assert texts["bento"] == texts["fastapi"] == texts["ray"], (label, texts)
        if headers.get("accept") != "text/csv":
            predictions = json.loads(texts["fastapi"])["predictions"]
            assert len(predictions) == 5 and all(0 <= p["prob"] <= 1 for p in predictions)


def test_bad_input_is_the_same_4xx_on_every_engine(
    engines: dict[str, Any], packaged: Packaged
) -> None:
    for label, headers, body in _bad_requests(packaged):
        answers = {engine: _post(r["url"], headers, body) for engine, r in engines.items()}
        statuses = {engine: a.status_code for engine, a in answers.items()}
        assert len(set(statuses.values())) == 1, (label, statuses)
        assert 400 <= statuses["fastapi"] < 500, (label, statuses)
        reasons = {engine: a.json()["error"] for engine, a in answers.items()}
        assert reasons["bento"] == reasons["fastapi"] == reasons["ray"], (label, reasons)


def test_ping_names_the_model_on_every_engine(engines: dict[str, Any]) -> None:
    digests = {e: httpx.get(f"{r['url']}/ping").json()["sha256"] for e, r in engines.items()}
    assert len(set(digests.values())) == 1 and len(digests["ray"]) == 64


def test_ray_runs_two_replicas_behind_one_route_on_loopback_only(
    engines: dict[str, Any],
) -> None:
    record = engines["ray"]
    assert record["engine"] == "ray" and record["replicas"] == 2
    deadline = time.monotonic() + 60
    while True:  # Serve may report the route ready while its second replica still starts
        members = [psutil.Process(pid) for pid in serving.session_members(record["pid"])]
        names = [" ".join(p.cmdline())[:60] for p in members]
        replicas = sum(n.startswith("ray::ServeReplica") for n in names)
        if replicas == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert replicas == 2, names
    listening = [
        (p.pid, p.name(), c.laddr)
        for p in members
        for c in p.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert listening and all(addr.ip in LOOPBACK for _, _, addr in listening), listening
    # the route refuses a Host that is not loopback (DNS rebinding), as the FastAPI server does
    assert httpx.get(f"{record['url']}/ping", headers={"host": "evil.example"}).status_code == 421
    assert httpx.get(f"{record['url']}/nowhere").status_code == 404


def test_deployments_list_shows_every_engine(engines: dict[str, Any], packaged: Packaged) -> None:
    listed = _invoke("deployments", "list", "--workspace", str(packaged.workspace), "--json")
    rows = {r["name"]: r for r in json.loads(listed.output)}
    assert rows["with-ray"]["engine"] == "ray" and rows["with-ray"]["health"] == "healthy"
    assert rows["with-fastapi"]["engine"] == "fastapi"
    assert rows["with-fastapi"]["health"] == "healthy"
    text = _invoke("deployments", "list", "--workspace", str(packaged.workspace)).output
    assert "ray" in text and "x2" in text


def test_exporting_the_same_model_again_builds_nothing(
    engines: dict[str, Any], packaged: Packaged
) -> None:
    again = _invoke(
        "models", "export-bento", f"{MODEL_NAME}:1", "--workspace", str(packaged.workspace)
    )
    assert again.exit_code == 0
    assert f"bento {engines['bento']['bento']['bento_tag']} already built" in again.output
    bad = CliRunner().invoke(
        cli,
        ["models", "export-bento", f"{MODEL_NAME}:1", "--name", "Bad Name!",
         "--workspace", str(packaged.workspace)],
    )  # fmt: skip
    assert bad.exit_code == 2 and "is not a BentoML name" in bad.output


def test_the_bento_carries_the_package_and_runs_without_cursus(
    engines: dict[str, Any], bento_home: Path
) -> None:
    bento = Path(engines["bento"]["bento"]["path"])
    source = bento / "src"
    assert {"cursus_bento.json", "cursus_invoke.py", "service.py"} <= {
        p.name for p in source.iterdir()
    }
    # the service imports its own copy of the handler code, not the installed Cursus
    assert "import cursus" not in (source / "cursus_invoke.py").read_text().replace(
        "from cursus.errors", ""
    )
    settings = json.loads((source / "cursus_bento.json").read_text())
    stored = bento_home / "models" / settings["model"].replace(":", "/")
    assert (stored / "code" / "inference.py").is_file()
    assert settings["sha256"] == engines["fastapi"]["sha256"]


def test_stopping_ray_leaves_no_ray_process(engines: dict[str, Any], project: Project) -> None:
    record = engines["ray"]
    assert serving.session_members(record["pid"])
    stopped = _invoke("deployments", "stop", "with-ray", "--workspace", str(project.workspace))
    assert stopped.exit_code == 0 and "with-ray: stopped" in stopped.output
    assert serving.session_members(record["pid"]) == []
    from cursus.mlops.ray_serving import ray_temp_root

    assert not list(ray_temp_root().glob(f"session_*_{record['pid']}"))  # its logs and sockets
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{record['url']}/ping", timeout=2)


def test_a_killed_deployment_process_leaves_nothing_behind(
    project: Project, tmp_path: Path
) -> None:
    """kill -9 of a deployment process (Ray's children outlive it): stop sweeps its session."""
    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    leader = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    deadline = time.monotonic() + 10
    while len(serving.session_members(leader.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    child = [p for p in serving.session_members(leader.pid) if p != leader.pid]
    assert child
    record = {
        "name": "killed", "engine": "ray", "project": project.name, "pid": leader.pid,
        "process_started": psutil.Process(leader.pid).create_time(), "port": free_port(),
        "url": "http://127.0.0.1:1", "model_ref": "x", "started": "now",
    }  # fmt: skip
    path = serving.deployments_dir(project) / "killed.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    os.kill(leader.pid, signal.SIGKILL)
    leader.wait(5)
    stopped = serving.stop_deployment(project, "killed")
    assert stopped["stopped"] is False and stopped["killed_leftovers"] == child
    assert not psutil.pid_exists(child[0]) or psutil.Process(child[0]).status() == "zombie"


def test_engine_options_are_checked_before_anything_starts(
    project: Project, packaged: Packaged
) -> None:
    ws = str(packaged.workspace)
    with pytest.raises(MLOpsError, match="use --engine ray for several replicas"):
        serving.deploy_model(project, f"{MODEL_NAME}:1", replicas=2)
    with pytest.raises(MLOpsError, match="unknown serving engine 'k8s'"):
        serving.deploy_model(project, f"{MODEL_NAME}:1", engine="k8s")
    wrong = CliRunner().invoke(
        cli, ["deploy", f"{MODEL_NAME}:1", "--role", "arn:x", "--workspace", ws]
    )
    assert wrong.exit_code == 2 and "apply to --engine sagemaker" in wrong.output
    port = CliRunner().invoke(
        cli,
        ["deploy", f"{MODEL_NAME}:1", "--engine", "sagemaker", "--port", "9", "--workspace", ws],
    )
    assert port.exit_code == 2 and "--port applies to the local engines" in port.output


def _request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):
    from starlette.requests import Request

    headers = {"host": "127.0.0.1:8000", **(headers or {})}
    scope = {
        "type": "http", "method": method, "path": path, "root_path": "", "scheme": "http",
        "query_string": b"", "server": ("127.0.0.1", 8000),
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


def test_the_ray_replica_answers_like_the_model_server_in_process(
    packaged: Packaged, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replica class without Ray around it: every route, the Host check, and the rebinding
    of Serve's inter-deployment gRPC server to loopback."""
    import asyncio

    from ray.serve._private import replica as serve_replica

    from cursus.mlops.invoke import ModelServer
    from cursus.mlops.ray_serving import CursusReplica

    # put Ray's helper back after the test (the replica wraps it in this process)
    monkeypatch.setattr(
        serve_replica, "add_port_to_grpc_server", serve_replica.add_port_to_grpc_server
    )
    model_dir = serving.unpack(packaged.archive, tmp_path / "model")
    replica = CursusReplica(str(model_dir), "ref", "digest")
    row = packaged.holdout.head(2).to_csv(header=False, index=False).encode()

    def call(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(replica(_request(*args, **kwargs)))

    answer = call("POST", "/invocations", row, {"content-type": "text/csv"})
    expected = ModelServer(model_dir).invoke(row, "text/csv", None)[0]
    assert answer.status_code == 200 and answer.body.decode() == expected
    assert call("POST", "/invocations", b"1,2", {"content-type": "text/csv"}).status_code == 422
    assert json.loads(call("GET", "/ping").body)["ref"] == "ref"
    assert b"cursus_requests_total" in call("GET", "/metrics").body
    assert call("GET", "/invocations").status_code == 405
    assert call("GET", "/elsewhere").status_code == 404
    assert call("GET", "/ping", headers={"host": "rebound.example"}).status_code == 421

    class Server:
        def add_insecure_port(self, address: str) -> int:
            self.address = address
            return 1

    grpc = Server()
    serve_replica.add_port_to_grpc_server(grpc, "[::]:0")
    assert grpc.address == "127.0.0.1:0"
    wrapped = serve_replica.add_port_to_grpc_server
    CursusReplica(str(model_dir), "ref", "digest")  # a second replica does not wrap it again
    assert serve_replica.add_port_to_grpc_server is wrapped


def test_a_package_ray_cannot_load_fails_the_deploy_at_once(
    project: Project, packaged: Packaged, tmp_path: Path
) -> None:
    import io
    import tarfile

    archive = tmp_path / "model.tar.gz"
    with tarfile.open(packaged.archive) as source, tarfile.open(archive, "w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member) if member.isfile() else None
            if member.name == "code/inference.py":
                body = b"raise RuntimeError('this package is broken')\n"
                member.size, data = len(body), io.BytesIO(body)
            target.addfile(member, data)
    started = time.monotonic()
    with pytest.raises(MLOpsError, match="this package is broken") as failure:
        serving.deploy_model(project, str(archive), name="broken", engine="ray")
    assert time.monotonic() - started < 60
    assert "exited with code 1 before answering /ping" in str(failure.value)
    assert not any(
        "ray_serving" in " ".join(p.info["cmdline"] or [])
        and "broken" in " ".join(p.info["cmdline"] or [])
        for p in psutil.process_iter(["cmdline"])
    )
