"""Serving a packaged model on loopback, the way a SageMaker endpoint serves it.

The app unpacks model.tar.gz and answers with the package's OWN code/inference.py (model_fn,
input_fn, predict_fn, output_fn, with the _tabular it ships), so an endpoint here answers exactly
what the Payload step recorded and what SageMaker would. Around the handler it adds what a
container does not: requests are checked against the model's input schema (422 with the reason),
content types are negotiated (415 / 406), and `GET /metrics` counts requests, errors and latency in
Prometheus' text format.

`deploy_model` starts the app as a background process (uvicorn on 127.0.0.1), waits for /ping and
records it in `<workspace>/deployments/<name>.json`; `list_deployments` and `stop_deployment` read
those records back.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cursus.loopback import LoopbackHostOnly
from cursus.mlops.invoke import ModelServer, ServingError
from cursus.mlops.project import MLOpsError, Project
from cursus.names import plain_name

if TYPE_CHECKING:
    from fastapi import FastAPI

HOST = "127.0.0.1"
MODEL_ARCHIVE = "model.tar.gz"
DEPLOYMENTS = "deployments"
MAX_BODY_BYTES = 64 << 20  # a request bigger than this is refused (413) before it is read
START_TIMEOUT = 90.0
SWITCH_INTERVAL = 0.0005  # seconds; see run_server
STOP_TIMEOUT = 10.0
_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


# ---------------------------------------------------------------- the package


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def unpack(archive: Path, destination: Path) -> Path:
    """Extract model.tar.gz (no links or paths leaving `destination`) and check its layout."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(destination, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise MLOpsError(f"{archive} is not a readable model.tar.gz: {exc}") from None
    if not (destination / "code" / "inference.py").is_file():
        raise MLOpsError(
            f"{archive} has no code/inference.py; serve a model.tar.gz built by the Package step"
        )
    return destination


def create_app(model_dir: str | Path, model_ref: str = "", digest: str = "") -> FastAPI:
    """The FastAPI app serving the unpacked package in `model_dir`.

    The three routes are plain Starlette endpoints: they need no validation or dependency
    injection from FastAPI, and skipping it keeps the per-request overhead low.
    """
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, PlainTextResponse, Response
    from starlette.concurrency import run_in_threadpool

    server = ModelServer(Path(model_dir), model_ref, digest)
    app = FastAPI(title="cursus model server", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(LoopbackHostOnly)
    app.state.server = server

    async def ping(request: Any) -> Response:
        return JSONResponse(server.ping())

    async def invocations(request: Any) -> Response:
        started = time.perf_counter()
        headers = request.headers
        try:
            body = await _read_body(request)
        except ServingError as exc:
            server.metrics.observe("/invocations", exc.status, time.perf_counter() - started)
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        # scoring is CPU work: off the event loop, so /ping answers meanwhile
        status, text, media_type = await run_in_threadpool(
            server.answer, body, headers.get("content-type"), headers.get("accept"), started
        )
        return Response(text, status_code=status, media_type=media_type)

    async def metrics(request: Any) -> Response:
        return PlainTextResponse(
            server.metrics.render(server.info), media_type="text/plain; version=0.0.4"
        )

    app.add_route("/ping", ping, methods=["GET"])
    app.add_route("/invocations", invocations, methods=["POST"])
    app.add_route("/metrics", metrics, methods=["GET"])
    return app


async def _read_body(request: Any) -> bytes:
    too_big = ServingError(
        413, f"the request body exceeds {MAX_BODY_BYTES >> 20} MiB; send fewer rows"
    )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def run_server(model_dir: Path, port: int, model_ref: str = "", digest: str = "") -> None:
    """Serve in this process until interrupted (SIGINT / SIGTERM)."""
    import uvicorn

    # scoring holds the GIL in a worker thread; the event loop waits up to one switch
    # interval each time it takes the GIL back, several times per /ping (5 ms by default)
    sys.setswitchinterval(SWITCH_INTERVAL)
    app = create_app(model_dir, model_ref, digest)
    uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False)


@contextlib.contextmanager
def unpacked(archive: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="cursus-serve-") as tmp:
        yield unpack(archive, Path(tmp))


def serve_model(
    project: Project, model_ref: str, port: int | None = None, on_ready: Any = None
) -> None:
    """`cursus serve`: resolve, unpack and serve `model_ref` in the foreground."""
    archive = resolve_model(project, model_ref)
    if port is not None and not _port_free(port):
        raise MLOpsError(f"port {port} on {HOST} is taken; pass another --port or none")
    port = port or _pick_port(project)
    digest = sha256_file(archive)
    with unpacked(archive) as model_dir:
        if on_ready is not None:
            on_ready(
                {
                    "model_ref": model_ref,
                    "archive": str(archive),
                    "sha256": digest,
                    "port": port,
                    "url": f"http://{HOST}:{port}",
                }
            )
        run_server(model_dir, port, model_ref, digest)


# ---------------------------------------------------------------- deployments


def resolve_model(project: Project, model_ref: str) -> Path:
    """A model.tar.gz path, a folder holding one, or a registry reference in `project`."""
    from cursus.mlops.registry import parse_model_ref, resolve_packaged_model

    path = Path(model_ref).expanduser()
    if path.exists():
        return resolve_packaged_model(str(path), project.workspace)
    name, version, alias = parse_model_ref(model_ref)
    ref = project.model_name(name) + (f"@{alias}" if alias else f":{version}" if version else "")
    return resolve_packaged_model(ref, project.workspace)


VERSION_WORDS = re.compile(r"^[vV]?(?P<number>\d+)(?:\.0+)*$")
ALIAS_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def versioned_ref(model_ref: str, version: str | int | None) -> str:
    """`model_ref` with `version` applied: NAME:N for 3, "3", "v3" or "v3.0" (the registry
    numbers versions), NAME@ALIAS for an alias name; `model_ref` itself when version is None."""
    if version is None or version == "":
        return model_ref
    from cursus.mlops.registry import parse_model_ref

    if Path(model_ref).expanduser().exists():
        raise MLOpsError(f"{model_ref} is a file; a version applies to a registered model name")
    name, own_version, alias = parse_model_ref(model_ref)
    if own_version is not None or alias is not None:
        raise MLOpsError(
            f"{model_ref!r} already names a version or alias; give the model name with version "
            f"{version!r}, or the reference alone"
        )
    text = str(version).strip()
    number = VERSION_WORDS.match(text)
    if number and int(number["number"]) > 0:
        return f"{name}:{int(number['number'])}"
    if ALIAS_WORD.match(text) and not text[1:2].isdigit():
        return f"{name}@{text}"
    raise MLOpsError(
        f"version {version!r} of {name} is neither a version number (the registry numbers "
        "versions 1, 2, ...; 'v1' and 'v1.0' mean 1) nor an alias such as production; "
        f"`cursus models show {name}` lists them"
    )


def deployments_dir(project: Project) -> Path:
    return project.workspace / DEPLOYMENTS


def _record_path(project: Project, name: str) -> Path:
    return deployments_dir(project) / f"{plain_name(name, 'deployment name')}.json"


def _deployment_folder(project: Project, name: str) -> Path:
    return deployments_dir(project) / plain_name(name, "deployment name")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _pick_port(project: Project) -> int:
    """The project's port when it is free, else any free one."""
    from cursus.mlops.project import free_port

    return project.serving_port if _port_free(project.serving_port) else free_port()


def _deployment_name(project: Project, model_ref: str, digest: str) -> str:
    if Path(model_ref).expanduser().exists():
        return f"model-{digest[:8]}"
    from cursus.mlops.registry import parse_model_ref

    name = parse_model_ref(model_ref)[0]
    if project.registry_prefix and name.startswith(project.registry_prefix):
        name = name[len(project.registry_prefix) :]
    return re.sub(r"\.{2,}", ".", _NAME.sub("-", name)).strip("-.") or f"model-{digest[:8]}"


def ping(port: int, timeout: float = 1.0) -> dict[str, Any] | None:
    """The /ping answer of a server on loopback `port`, or None when it does not answer 200."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/ping", timeout=timeout) as response:
            if response.status == 200:
                return json.loads(response.read() or b"{}")
    except (OSError, ValueError, urllib.error.URLError):
        pass
    return None


_children: dict[int, subprocess.Popen[bytes]] = {}


ENGINES = ("fastapi", "ray", "sagemaker")
RAY_START_TIMEOUT = 180.0  # Ray, then Serve's controller and proxy, then each replica
RAY_STOP_TIMEOUT = 40.0


def deploy_model(
    project: Project,
    model_ref: str,
    port: int | None = None,
    name: str | None = None,
    engine: str = "fastapi",
    replicas: int = 1,
    sagemaker: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Start a server for `model_ref` and record it: a uvicorn process on loopback (fastapi),
    a local Ray Serve deployment with `replicas` replicas behind one route (ray), or a SageMaker
    endpoint with `replicas` instances (sagemaker, options in `sagemaker`)."""
    if engine not in ENGINES:
        raise MLOpsError(f"unknown serving engine {engine!r}; use one of {', '.join(ENGINES)}")
    if replicas < 1:
        raise MLOpsError(f"--replicas must be at least 1 (got {replicas})")
    if engine == "fastapi" and replicas != 1:
        raise MLOpsError(
            "the fastapi engine runs one process; use --engine ray for several replicas"
        )
    if name is not None:
        plain_name(name, "deployment name")
    archive = resolve_model(project, model_ref)
    digest = sha256_file(archive)
    name = name or _deployment_name(project, model_ref, digest)
    plain_name(name, "deployment name")
    existing = _read_record(project, name)
    if existing is not None and _running(existing):
        where = (
            f"SageMaker endpoint {existing.get('endpoint_name')}"
            if _engine(existing) == "sagemaker"
            else existing.get("url")
        )
        raise MLOpsError(
            f"deployment '{name}' is already running ({where}); "
            f"`cursus deployments stop {name}` first or pass another --name"
        )
    if engine == "sagemaker":
        from cursus.mlops.sagemaker_endpoint import create_endpoint

        record = create_endpoint(archive, digest, name, replicas=replicas, **(sagemaker or {}))
        record.update(project=project.name, model_ref=model_ref, archive=str(archive))
        return _write_record(project, record)
    if port is not None and not _port_free(port):
        raise MLOpsError(f"port {port} on {HOST} is taken; pass another --port or none")
    port = port or _pick_port(project)
    folder = _deployment_folder(project, name)
    if folder.exists():
        shutil.rmtree(folder)
    model_dir = unpack(archive, folder / "model")
    log_path = folder / "server.log"
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    module, timeout = "cursus.mlops.serving", START_TIMEOUT
    extra: list[str] = []
    if engine == "ray":
        require_extra("ray.serve", "Ray Serve")
        from cursus.mlops.ray_serving import ray_environment

        env.update(ray_environment())
        module, timeout = "cursus.mlops.ray_serving", RAY_START_TIMEOUT
        extra = ["--replicas", str(replicas)]
    command = [
        sys.executable, "-m", module,
        "--model-dir", str(model_dir), "--port", str(port),
        "--model-ref", model_ref, "--sha256", digest, *extra,
    ]  # fmt: skip
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # outlives the command that deployed it
        )
    _children[proc.pid] = proc
    _wait_until_healthy(proc, port, log_path, timeout)
    record = {
        "name": name,
        "engine": engine,
        "replicas": replicas,
        "project": project.name,
        "model_ref": model_ref,
        "archive": str(archive),
        "sha256": digest,
        "pid": proc.pid,
        "process_started": _create_time(proc.pid),
        "host": HOST,
        "port": port,
        "url": f"http://{HOST}:{port}",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_dir": str(model_dir),
        "log": str(log_path),
    }
    return _write_record(project, record)


def _write_record(project: Project, record: dict[str, Any]) -> dict[str, Any]:
    path = _record_path(project, record["name"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def require_extra(module: str, what: str) -> None:
    """A clear error when the `serving` extra's `module` (BentoML, Ray Serve) is missing."""
    if importlib.util.find_spec(module.split(".")[0]) is None:
        raise MLOpsError(
            f"{what} is not installed; `pip install 'cursus-ml-pipelines[serving]'` adds it"
        )


def _wait_until_healthy(
    proc: subprocess.Popen[bytes], port: int, log_path: Path, timeout: float = START_TIMEOUT
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _children.pop(proc.pid, None)
            _sweep_session(proc.pid)  # what it started before it failed (Ray's processes)
            raise MLOpsError(
                f"the model server exited with code {proc.returncode} before answering /ping:\n"
                + _tail(log_path)
            )
        if ping(port, timeout=0.5) is not None:
            return
        time.sleep(0.1)
    _terminate(proc.pid, proc)
    _sweep_session(proc.pid)
    raise MLOpsError(
        f"the model server did not answer /ping within {timeout:g} s; log:\n{_tail(log_path)}"
    )


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _read_record(project: Project, name: str) -> dict[str, Any] | None:
    try:
        return json.loads(_record_path(project, name).read_text())
    except (OSError, ValueError):
        return None


def _create_time(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _alive(record: dict[str, Any]) -> bool:
    """The recorded server process still runs (the same process: a reused pid does not count)."""
    import psutil

    try:
        proc = psutil.Process(int(record["pid"]))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        started = record.get("process_started")
        return started is None or abs(proc.create_time() - float(started)) < 1.0
    except (psutil.Error, KeyError, ValueError):
        return False


def _engine(record: dict[str, Any]) -> str:
    return str(record.get("engine") or "fastapi")  # records before engines were added


def _running(record: dict[str, Any]) -> bool:
    if _engine(record) == "sagemaker":
        from cursus.mlops.sagemaker_endpoint import endpoint_state

        return bool(endpoint_state(record)["alive"])
    return _alive(record)


def with_health(record: dict[str, Any], ping_timeout: float = 1.0) -> dict[str, Any]:
    """`record` with its engine, `alive` and `health` filled in."""
    record.setdefault("engine", "fastapi")
    if _engine(record) == "sagemaker":
        from cursus.mlops.sagemaker_endpoint import endpoint_state

        record.update(endpoint_state(record))
        return record
    alive = _alive(record)
    try:
        healthy = alive and ping(int(record["port"]), timeout=ping_timeout) is not None
    except (KeyError, TypeError, ValueError):
        healthy = False
    record["alive"] = alive
    record["health"] = "healthy" if healthy else "unresponsive" if alive else "stopped"
    return record


def list_deployments(project: Project) -> list[dict[str, Any]]:
    """The project's recorded deployments of every engine, each with `alive` and `health`:
    "healthy" when /ping answers, "unresponsive" when the process runs but does not answer,
    "stopped" otherwise; a SageMaker endpoint's from its status (InService: healthy; Creating:
    starting; Failed: failed; gone: stopped; "unknown" when AWS does not answer)."""
    folder = deployments_dir(project)
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if record.get("project") != project.name:
            continue
        found.append(with_health(record))
    return found


def stop_deployment(project: Project, name: str) -> dict[str, Any]:
    """Stop deployment `name` and forget it: SIGTERM, then SIGKILL after a grace period, and
    any process left in its session (Ray's); a SageMaker endpoint, its config and model are
    deleted."""
    plain_name(name, "deployment name")  # before any path or pid is read from it
    record = _read_record(project, name)
    if record is None or record.get("project") != project.name:
        known = ", ".join(d["name"] for d in list_deployments(project)) or "none"
        raise MLOpsError(
            f"no deployment '{name}' in project '{project.name}' (deployments: {known})"
        )
    left: list[int] = []
    if _engine(record) == "sagemaker":
        from cursus.mlops.sagemaker_endpoint import delete_endpoint

        was_alive = delete_endpoint(record)
    else:
        pid = int(record["pid"])
        was_alive = _alive(record)
        if was_alive:
            timeout = RAY_STOP_TIMEOUT if _engine(record) == "ray" else STOP_TIMEOUT
            _terminate(pid, _children.get(pid), timeout)
        _children.pop(pid, None)
        # Linux hands out no pid still used as a session id: when another process now has
        # this pid, nothing of the deployment's session is left to sweep
        if was_alive or not _pid_exists(pid):
            left = _sweep_session(pid, record.get("process_started"))
        if _engine(record) == "ray":
            from cursus.mlops.ray_serving import remove_ray_session

            remove_ray_session(pid)
    _record_path(project, name).unlink(missing_ok=True)
    shutil.rmtree(_deployment_folder(project, name), ignore_errors=True)
    return {**record, "stopped": was_alive, "killed_leftovers": left}


def _pid_exists(pid: int) -> bool:
    import psutil

    return bool(psutil.pid_exists(pid))


def session_members(sid: int, since: float | None = None) -> list[int]:
    """Processes of session `sid` (Linux /proc), started no earlier than `since` (so a pid
    reused by an unrelated session leader is not taken for it); empty where there is no /proc."""
    import psutil

    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            pid = int(stat.parent.name)
            if int(fields[3]) != sid or fields[0] in ("Z", "X"):  # a zombie holds nothing
                continue
            if since is not None and psutil.Process(pid).create_time() < float(since) - 1.0:
                continue
        except (OSError, IndexError, ValueError, psutil.Error):
            continue
        members.append(pid)
    return sorted(members)


def _sweep_session(sid: int, since: float | None = None) -> list[int]:
    """Kill what is left of a deployment's session once its leader is gone (Ray's raylet,
    GCS and workers when the deployment process was killed before it shut Ray down, or the
    ones still exiting after it); returns once they are gone (or after a few seconds)."""
    left = session_members(sid, since)
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while left and session_members(sid, since) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def stop_all(project: Project) -> list[dict[str, Any]]:
    return [stop_deployment(project, d["name"]) for d in list_deployments(project)]


def _terminate(
    pid: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = STOP_TIMEOUT
) -> None:
    import psutil

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.Error:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if proc is not None:
        proc.wait(5)


# ---------------------------------------------------------------- the server process


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="serve an unpacked model.tar.gz on loopback")
    parser.add_argument("--model-dir", required=True, type=Path)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--model-ref", default="")
    parser.add_argument("--sha256", default="")
    args = parser.parse_args(argv)
    run_server(args.model_dir, args.port, args.model_ref, args.sha256)


if __name__ == "__main__":
    main()
