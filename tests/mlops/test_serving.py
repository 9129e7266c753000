"""Serving a packaged model: a real uvicorn server on a free loopback port, answering with the
package's own inference code, checked against what the Payload step recorded."""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

# The runner's fork server keeps the environment it started with: set before any run.
os.environ["OMP_NUM_THREADS"] = "1"

import httpx
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cursus.cli.main import cli
from cursus.errors import CursusError
from cursus.mlops import serving
from cursus.mlops.project import MLOpsError, Project, free_port
from cursus.steps.library import BUNDLED_LIBRARY as SCRIPTS_DIR

sys.path.insert(0, str(Path(__file__).parent))
from _mlops_support import Packaged, build_packaged

MODEL_NAME = "serve-test"


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    """The bundled xgboost_e2e pipeline, run once: train, calibrate, package, payload, register."""
    return build_packaged(tmp_path_factory.mktemp("serving"), MODEL_NAME)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, packaged: Packaged) -> Project:
    return Project.load("default", packaged.workspace)


@pytest.fixture(scope="module")
def server(packaged: Packaged):
    """One deployed server for the request tests, in a project of its own; stopped at the end."""
    project = Project.load("requests", packaged.workspace)
    record = serving.deploy_model(project, str(packaged.archive), port=free_port(), name="requests")
    with httpx.Client(base_url=record["url"], timeout=10) as client:
        yield client
    serving.stop_deployment(project, "requests")


def _invoke(client: httpx.Client, body: str, content_type: str, accept: str | None = None):
    headers = {"content-type": content_type} | ({"accept": accept} if accept else {})
    return client.post("/invocations", content=body, headers=headers)


def _counter(metrics: str, line_start: str) -> float:
    match = re.search(rf"^{re.escape(line_start)} (\S+)$", metrics, re.M)
    return float(match.group(1)) if match else 0.0


# ---------------------------------------------------------------- answers


def test_ping(server: httpx.Client, packaged: Packaged) -> None:
    response = server.get("/ping")
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"
    assert response.json()["sha256"] == serving.sha256_file(packaged.archive)


def test_csv_and_json_payloads_get_the_responses_the_payload_step_recorded(
    server: httpx.Client, packaged: Packaged
) -> None:
    expected = json.loads((packaged.payload / "expected_responses.json").read_text())["responses"]
    assert len(expected) == 4  # CSV and JSON requests, each answered in JSON and CSV
    for case in expected:
        body = (packaged.payload / case["request_file"]).read_text()
        response = _invoke(server, body, case["content_type"], case["accept"])
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith(case["accept"])
        assert response.text == case["body"]


def test_predictions_equal_the_loaded_model(server: httpx.Client, packaged: Packaged) -> None:
    sys.path.insert(0, str(SCRIPTS_DIR))
    try:
        import _tabular
    finally:
        sys.path.remove(str(SCRIPTS_DIR))
    model_dir = packaged.workspace.parent / "unpacked"
    serving.unpack(packaged.archive, model_dir)
    expected = _tabular.LoadedModel(model_dir).predict_proba(packaged.holdout)

    as_csv = _invoke(server, packaged.holdout.to_csv(index=False, header=False), "text/csv")
    records = json.loads(packaged.holdout.to_json(orient="records"))
    as_json = _invoke(server, json.dumps({"instances": records}), "application/json")
    for response in (as_csv, as_json):
        assert response.status_code == 200, response.text
        probs = [p["prob"] for p in response.json()["predictions"]]
        np.testing.assert_allclose(probs, expected, rtol=1e-6)


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("make_body", "content_type", "status", "reason"),
    [
        (lambda f: "1,2,3", "text/csv", 422, r"row 0 has 3 values but the model takes 30 features"),
        (
            lambda f: ",".join(["1"] * len(f)) + "\n" + ",".join(["1"] * (len(f) + 1)),
            "text/csv",
            400,  # malformed: the package's handler refuses it, as it does on SageMaker
            r"different numbers of values",
        ),
        (
            lambda f: ",".join(["1"] * 3 + ["abc"] + ["1"] * (len(f) - 4)),
            "text/csv",
            422,
            r"row 0, feature '\w+' is numeric but got 'abc'",
        ),
        (
            lambda f: json.dumps({"instances": [{**dict.fromkeys(f, 1.0), "height": 2}]}),
            "application/json",
            422,
            r"instance 0 has unknown features \[height\]",
        ),
        (
            lambda f: json.dumps([dict.fromkeys(f[1:], 1.0)]),
            "application/json",
            422,
            r"instance 0 lacks features \[{0}\]",
        ),
        (
            lambda f: json.dumps({"instances": [[1.0] * len(f)], "x": 1}) + "}",
            "application/json",
            400,
            r"not valid JSON",
        ),
        (lambda f: "", "text/csv", 422, r"holds no rows"),
        (lambda f: "[" * 100_000 + "]" * 100_000, "application/json", 422, r"nested too deep"),
        (
            lambda f: json.dumps([dict.fromkeys(f, 1.0)]).replace("1.0", "1e999", 1),
            "application/json",
            422,
            r"row 0, feature '\w+': inf is not a finite number",
        ),
        (
            lambda f: json.dumps([dict.fromkeys(f, 1.0)]).replace("1.0", "9" * 5000, 1),
            "application/json",
            422,
            r"a number in the JSON body is too long",
        ),
        (
            lambda f: ",".join(["9" * 400] + ["1"] * (len(f) - 1)),
            "text/csv",
            422,
            r"row 0, feature '\w+': 9{40} is not a finite number",
        ),
        (
            lambda f: ",".join(["1" * 200_000] + ["1"] * (len(f) - 1)),
            "text/csv",
            422,
            r"a CSV field is longer than 131072 characters",
        ),
        (lambda f: ",".join(["1"] * len(f)), "text/plain", 415, r"unsupported content type"),
        (lambda f: "<row/>", "application/xml", 415, r"send text/csv or application/json"),
    ],
    ids=[
        "width",
        "ragged",
        "not-a-number",
        "unknown",
        "missing",
        "bad-json",
        "empty",
        "deep-json",
        "infinite-number",
        "long-integer",
        "long-numeric-text",
        "huge-csv-field",
        "text",
        "xml",
    ],
)
def test_bad_requests_are_refused_with_the_reason(
    server: httpx.Client, packaged: Packaged, make_body, content_type, status, reason
) -> None:
    reason = reason.replace("{0}", packaged.features[0])
    response = _invoke(server, make_body(packaged.features), content_type)
    assert response.status_code == status, response.text
    assert re.search(reason, response.json()["error"]), response.json()


def test_an_accept_type_it_cannot_write_is_406(server: httpx.Client, packaged: Packaged) -> None:
    body = (packaged.payload / "payload.csv").read_text()
    response = _invoke(server, body, "text/csv", accept="image/png")
    assert response.status_code == 406
    assert _invoke(server, body, "text/csv", accept="text/html, */*").status_code == 200


def test_metrics_count_requests_errors_and_latency(
    server: httpx.Client, packaged: Packaged
) -> None:
    before = server.get("/metrics").text
    body = (packaged.payload / "payload.csv").read_text()
    for _ in range(3):
        assert _invoke(server, body, "text/csv").status_code == 200
    assert _invoke(server, "1,2", "text/csv").status_code == 422
    after = server.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text

    def delta(line: str) -> float:
        return _counter(text, line) - _counter(before, line)

    assert delta('cursus_requests_total{endpoint="/invocations",status="200"}') == 3
    assert delta('cursus_invocation_errors_total{status="422"}') == 1
    assert delta("cursus_invocation_seconds_count") == 4
    assert delta("cursus_predicted_rows_total") == 3 * len(body.splitlines())
    assert _counter(text, 'cursus_invocation_seconds_bucket{le="+Inf"}') == _counter(
        text, "cursus_invocation_seconds_count"
    )
    assert "# TYPE cursus_invocation_seconds histogram" in text


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_a_body_over_the_limit_is_413_and_a_handler_bug_is_500(
    packaged: Packaged, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    app = serving.create_app(serving.unpack(packaged.archive, tmp_path / "model"))
    client = TestClient(app, base_url="http://127.0.0.1")
    monkeypatch.setattr(serving, "MAX_BODY_BYTES", 1000)
    big = _invoke(client, "1," * 2000, "text/csv")
    assert big.status_code == 413 and "exceeds" in big.json()["error"]
    monkeypatch.setattr(serving, "MAX_BODY_BYTES", 1 << 20)

    def broken(data, model):
        raise KeyError("oops")

    monkeypatch.setattr(app.state.server.handler, "predict_fn", broken)
    body = (packaged.payload / "payload.csv").read_text()
    failed = _invoke(client, body, "text/csv")
    assert failed.status_code == 500 and "KeyError" in failed.json()["error"]


# ---------------------------------------------------------------- deploy, list, stop


def test_deploy_list_stop_from_the_command_line(project: Project, packaged: Packaged) -> None:
    runner = CliRunner()
    ws = ["--workspace", str(packaged.workspace)]
    deployed = runner.invoke(cli, ["deploy", f"{MODEL_NAME}@candidate", "--json", *ws])
    assert deployed.exit_code == 0, deployed.output
    record = json.loads(deployed.output)
    assert record["name"] == MODEL_NAME and record["host"] == "127.0.0.1"
    assert record["sha256"] == serving.sha256_file(packaged.archive)  # the registered package
    try:
        assert httpx.get(f"{record['url']}/ping").status_code == 200
        listed = json.loads(runner.invoke(cli, ["deployments", "list", "--json", *ws]).output)
        assert [(d["name"], d["health"]) for d in listed] == [(MODEL_NAME, "healthy")]
        again = runner.invoke(cli, ["deploy", f"{MODEL_NAME}@candidate", *ws])
        assert again.exit_code == 2 and "already running" in again.output
    finally:
        stopped = runner.invoke(cli, ["deployments", "stop", MODEL_NAME, *ws])
    assert stopped.exit_code == 0 and f"{MODEL_NAME}: stopped" in stopped.output
    assert not serving._alive(record)
    assert serving.list_deployments(project) == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{record['url']}/ping")


def test_a_deployment_whose_process_died_shows_as_stopped(
    project: Project, packaged: Packaged
) -> None:
    record = serving.deploy_model(project, str(packaged.archive), name="doomed")
    os.kill(record["pid"], signal.SIGKILL)
    serving._children.pop(record["pid"]).wait(10)
    (listed,) = [d for d in serving.list_deployments(project) if d["name"] == "doomed"]
    assert (listed["alive"], listed["health"]) == (False, "stopped")
    assert serving.stop_all(project)[0]["stopped"] is False
    assert serving.list_deployments(project) == []


def test_unknown_models_and_deployments_are_errors(project: Project) -> None:
    with pytest.raises(MLOpsError, match="cannot resolve model 'no-such-model'"):
        serving.deploy_model(project, "no-such-model")
    with pytest.raises(MLOpsError, match="no deployment 'ghost'"):
        serving.stop_deployment(project, "ghost")


def test_cursus_serve_runs_in_the_foreground(packaged: Packaged) -> None:
    port = free_port()
    cursus = str(Path(sys.executable).with_name("cursus"))
    command = [cursus, "serve", str(packaged.archive), "--port", str(port)]
    command += ["--workspace", str(packaged.workspace)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while serving.ping(port) is None:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "cursus serve did not answer /ping"
            time.sleep(0.1)
        body = (packaged.payload / "payload.json").read_text()
        response = httpx.post(
            f"http://127.0.0.1:{port}/invocations",
            content=body,
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 200 and len(response.json()["predictions"]) == 5
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    assert f"on http://127.0.0.1:{port}" in stderr.decode()


@pytest.mark.parametrize("name", ["../../x", "../victim", "/etc/passwd", "a/b", "..", ".hidden"])
def test_a_deployment_name_cannot_reach_outside_the_workspace(
    project: Project, tmp_path: Path, name: str
) -> None:
    """`cursus deployments stop ../../x` used to read x.json two folders up, signal the pid
    written in it and delete the folder beside it. Now the name is refused before any of that."""
    victim = serving.deployments_dir(project).parent.parent / "x"
    victim.mkdir(parents=True, exist_ok=True)
    (victim / "keep.txt").write_text("not yours")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    planted = {"name": "x", "project": project.name, "pid": sleeper.pid, "port": 1}
    (victim.parent / "x.json").write_text(json.dumps(planted))
    try:
        out = CliRunner().invoke(
            cli, ["deployments", "stop", name, "--workspace", str(project.workspace)]
        )
        assert out.exit_code == 2, out.output
        assert "is not a plain name" in out.output and "Traceback" not in out.output
        assert sleeper.poll() is None  # not signalled
        assert (victim / "keep.txt").read_text() == "not yours"  # not deleted
        with pytest.raises(CursusError, match="is not a plain name"):
            serving.deploy_model(project, "whatever", name=name)
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_only_requests_addressed_to_a_loopback_name_are_answered(
    packaged: Packaged, tmp_path: Path
) -> None:
    """DNS rebinding: a page elsewhere makes the browser call 127.0.0.1 under its own name. The
    TCP peer is loopback; the Host header is not, and is refused with 421 before any route."""
    from fastapi.testclient import TestClient

    client = TestClient(serving.create_app(serving.unpack(packaged.archive, tmp_path / "m")))
    for host in ("127.0.0.1:8080", "localhost", "127.1.2.3", "[::1]:9000"):
        assert client.get("/ping", headers={"host": host}).status_code == 200, host
    for host in ("evil.example", "evil.example:8080", "10.0.0.5", "127.0.0.1.evil.example", ""):
        refused = client.get("/ping", headers={"host": host})
        assert refused.status_code == 421, host
        assert "is not a loopback name" in refused.text
    body = (packaged.payload / "payload.csv").read_text()
    stolen = client.post(
        "/invocations", content=body, headers={"host": "evil.example", "content-type": "text/csv"}
    )
    assert stolen.status_code == 421


def test_ping_answers_while_a_big_request_is_scored(
    server: httpx.Client, packaged: Packaged, tmp_path: Path
) -> None:
    """Health checks stay responsive: scoring runs off the event loop, in parts, so a /ping
    during a ~10 MB request is answered at once (it waited 2.4 s for the request before). The
    big request comes from another process, so this one only measures the pings."""
    rows = pd.concat([packaged.holdout] * 1600, ignore_index=True)
    body = tmp_path / "big.csv"
    rows.to_csv(body, header=False, index=False)
    assert body.stat().st_size > 8_000_000
    send = (
        "import sys, urllib.request\n"
        "request = urllib.request.Request(sys.argv[1], data=open(sys.argv[2], 'rb').read(),\n"
        "    headers={'Content-Type': 'text/csv', 'Accept': 'text/csv'})\n"
        "print(urllib.request.urlopen(request, timeout=60).status)\n"
    )
    url = str(server.base_url).rstrip("/") + "/invocations"
    big = subprocess.Popen(
        [sys.executable, "-c", send, url, str(body)], stdout=subprocess.PIPE, text=True
    )
    pings: list[tuple[bool, float]] = []  # (the big request still running, seconds taken)
    with httpx.Client(base_url=str(server.base_url), timeout=10) as other:
        time.sleep(0.3)  # the body is sent and being scored
        while big.poll() is None and len(pings) < 100:
            started = time.monotonic()
            assert other.get("/ping").status_code == 200
            pings.append((big.poll() is None, time.monotonic() - started))
            time.sleep(0.01)
    assert big.wait(60) == 0 and big.stdout is not None and big.stdout.read().strip() == "200"
    during = [took for running, took in pings if running]
    assert during and max(during) < 0.5, f"/ping took {max(during):.2f} s during a big request"
    assert len(during) >= 3, "too few pings overlapped the request; make it bigger"
    # single C calls over the whole body (joining, decoding) still hold the GIL ~0.1 s once
    assert statistics.median(during) < 0.05, f"/ping took {statistics.median(during):.3f} s"
