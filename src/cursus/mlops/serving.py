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
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from cursus.loopback import LoopbackHostOnly
from cursus.mlops.project import MLOpsError, Project
from cursus.names import plain_name

if TYPE_CHECKING:
    from fastapi import FastAPI

HOST = "127.0.0.1"
CSV = "text/csv"
JSON = "application/json"
MODEL_ARCHIVE = "model.tar.gz"
PREPROCESSING_FILE = "preprocessing.json"
MODEL_META_FILE = "model_meta.json"
DEPLOYMENTS = "deployments"
MAX_BODY_BYTES = 64 << 20  # a request bigger than this is refused (413) before it is read
START_TIMEOUT = 90.0
SWITCH_INTERVAL = 0.0005  # seconds; see run_server
STOP_TIMEOUT = 10.0
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


class ServingError(Exception):
    """A request the model cannot answer: HTTP `status` with a reason for the client."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


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


def load_handler(code_dir: Path) -> ModuleType:
    """Import the package's code/inference.py, binding the _tabular shipped next to it.

    Any other `_tabular` already imported in this process is set aside meanwhile and put back
    afterwards, so the handler runs the package's copy, as the endpoint container would.
    """
    name = f"cursus_serving_handler_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, code_dir / "inference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    other_tabular = sys.modules.pop("_tabular", None)
    sys.path.insert(0, str(code_dir))
    try:
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise MLOpsError(f"the package's code/inference.py does not import: {exc}") from exc
    finally:
        sys.path.remove(str(code_dir))
        sys.modules.pop("_tabular", None)
        if other_tabular is not None:
            sys.modules["_tabular"] = other_tabular
    for fn in ("model_fn", "input_fn", "predict_fn", "output_fn"):
        if not callable(getattr(module, fn, None)):
            raise MLOpsError(f"the package's code/inference.py has no {fn}()")
    return module


# ---------------------------------------------------------------- the input schema


@dataclass(frozen=True)
class InputSchema:
    """The features a request must carry, in the model's order, and which of them are numbers."""

    features: tuple[str, ...]
    categorical: frozenset[str] = frozenset()

    @classmethod
    def from_model_dir(cls, model_dir: Path) -> InputSchema:
        prep_path, meta_path = model_dir / PREPROCESSING_FILE, model_dir / MODEL_META_FILE
        prep = json.loads(prep_path.read_text()) if prep_path.is_file() else {}
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        features = prep.get("features") or meta.get("features")
        if not features:
            raise MLOpsError(
                f"the package names no input features (neither {PREPROCESSING_FILE} nor "
                f"{MODEL_META_FILE} lists them); rebuild it with the Package step"
            )
        return cls(tuple(map(str, features)), frozenset(prep.get("categories", {})))

    def check(self, data: Any) -> int:
        """Check the handler's parsed request; returns its row count or raises a 422."""
        if getattr(data, "records", None) is not None:
            return self._check_records(data.records)
        rows = list(getattr(data, "rows", None) or [])
        if rows and [str(v) for v in rows[0]] == list(self.features):
            rows = rows[1:]  # a header row naming the features, which the handler skips too
        if not rows:
            raise ServingError(422, "the request holds no rows")
        width = len(self.features)
        for i, row in enumerate(rows):
            if len(row) != width:
                raise ServingError(
                    422,
                    f"row {i} has {len(row)} values but the model takes {width} features "
                    f"({_preview(self.features)}); send one value per feature, in that order",
                )
            for name, value in zip(self.features, row, strict=True):
                self._check_value(i, name, value)
        return len(rows)

    def _check_records(self, records: list[dict[str, Any]]) -> int:
        if not records:
            raise ServingError(422, "the request holds no instances")
        known = set(self.features)
        for i, record in enumerate(records):
            unknown = [k for k in record if k not in known]
            if unknown:
                raise ServingError(
                    422,
                    f"instance {i} has unknown features {_preview(unknown)}; the model takes "
                    f"{_preview(self.features)}",
                )
            missing = [f for f in self.features if f not in record]
            if missing:
                raise ServingError(
                    422,
                    f"instance {i} lacks features {_preview(missing)}; send every feature "
                    "(null when unknown)",
                )
            for name in self.features:
                self._check_value(i, name, record[name])
        return len(records)

    def _check_value(self, row: int, name: str, value: Any) -> None:
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            return
        if isinstance(value, list | dict | bool):
            raise ServingError(
                422, f"row {row}, feature '{name}': {json.dumps(value)} is not a single value"
            )
        if name in self.categorical:
            return
        text = str(value).strip()
        if text == "":
            return
        try:
            float(text)
        except ValueError:
            raise ServingError(
                422, f"row {row}, feature '{name}' is numeric but got {str(value)[:40]!r}"
            ) from None


def _preview(names: Any, limit: int = 8) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return f"[{shown}{', ...' if len(names) > limit else ''}] ({len(names)})"


# ---------------------------------------------------------------- metrics


@dataclass
class ServingMetrics:
    """Request counters and a latency histogram, written in Prometheus' text format."""

    requests: dict[tuple[str, int], int] = field(default_factory=dict)
    rows: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    latency_sum: float = 0.0
    latency_count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(
        self, endpoint: str, status: int, seconds: float | None = None, rows: int = 0
    ) -> None:
        with self._lock:
            key = (endpoint, status)
            self.requests[key] = self.requests.get(key, 0) + 1
            self.rows += rows
            if seconds is not None:
                index = next(
                    (i for i, bound in enumerate(LATENCY_BUCKETS) if seconds <= bound),
                    len(LATENCY_BUCKETS),
                )
                self.buckets[index] += 1
                self.latency_sum += seconds
                self.latency_count += 1

    def render(self, info: dict[str, str]) -> str:
        with self._lock:
            requests = sorted(self.requests.items())
            buckets, total, count, rows = (
                list(self.buckets),
                self.latency_sum,
                self.latency_count,
                self.rows,
            )
        labels = ",".join(f'{k}="{_label(v)}"' for k, v in info.items())
        lines = [
            "# HELP cursus_model_info The model this server answers with.",
            "# TYPE cursus_model_info gauge",
            f"cursus_model_info{{{labels}}} 1",
            "# HELP cursus_requests_total Requests answered, by endpoint and HTTP status.",
            "# TYPE cursus_requests_total counter",
            *(
                f'cursus_requests_total{{endpoint="{e}",status="{s}"}} {n}'
                for (e, s), n in requests
            ),
            "# HELP cursus_invocation_errors_total Invocations answered with an error, by HTTP status.",
            "# TYPE cursus_invocation_errors_total counter",
            *(
                f'cursus_invocation_errors_total{{status="{s}"}} {n}'
                for (e, s), n in requests
                if e == "/invocations" and s >= 400
            ),
            "# HELP cursus_predicted_rows_total Rows scored.",
            "# TYPE cursus_predicted_rows_total counter",
            f"cursus_predicted_rows_total {rows}",
            "# HELP cursus_invocation_seconds Time to answer an invocation, from request to response.",
            "# TYPE cursus_invocation_seconds histogram",
        ]
        cumulative = 0
        for bound, n in zip([*LATENCY_BUCKETS, math.inf], buckets, strict=True):
            cumulative += n
            le = "+Inf" if math.isinf(bound) else repr(bound)
            lines.append(f'cursus_invocation_seconds_bucket{{le="{le}"}} {cumulative}')
        lines += [
            f"cursus_invocation_seconds_sum {total!r}",
            f"cursus_invocation_seconds_count {count}",
        ]
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# ---------------------------------------------------------------- answering a request


def _media_type(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


def negotiate(accept: str | None) -> str:
    """The response type for an Accept header, as the packaged handler picks it (406 if none)."""
    listed = [_media_type(part) for part in (accept or "").split(",") if part.strip()]
    for media_type in listed or ["*/*"]:
        if media_type in (CSV, JSON):
            return media_type
        if media_type in ("*/*", "application/*"):
            return JSON
    raise ServingError(406, f"cannot answer in {accept!r}; accept {JSON} or {CSV}")


class ModelServer:
    """The package's handler and model, with the schema checks and metrics around them."""

    def __init__(self, model_dir: Path, model_ref: str = "", digest: str = "") -> None:
        self.model_dir = model_dir
        self.handler = load_handler(model_dir / "code")
        self.model = self.handler.model_fn(str(model_dir))
        self.schema = InputSchema.from_model_dir(model_dir)
        self.metrics = ServingMetrics()
        self.info = {"ref": model_ref or str(model_dir), "sha256": digest}

    def invoke(
        self, body: bytes, content_type: str | None, accept: str | None
    ) -> tuple[str, str, int]:
        """(response body, its media type, rows scored) or a ServingError."""
        if _media_type(content_type) not in (CSV, JSON):
            raise ServingError(
                415, f"unsupported content type {content_type!r}; send {CSV} or {JSON}"
            )
        response_type = negotiate(accept)
        try:
            data = self.handler.input_fn(body, content_type)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ServingError(_status(exc, 422), str(exc)) from None
        rows = self.schema.check(data)
        try:
            prediction = self.handler.predict_fn(data, self.model)
        except ValueError as exc:
            raise ServingError(_status(exc, 422), str(exc)) from None
        try:
            result = self.handler.output_fn(prediction, accept)
        except ValueError as exc:
            raise ServingError(_status(exc, 406), str(exc)) from None
        if isinstance(result, tuple):  # (body, content type), as the SageMaker toolkits take it
            body_text, response_type = result
            return str(body_text), response_type, rows
        return result, response_type, rows


def _status(exc: Exception, default: int) -> int:
    """The HTTP status a package's handler gave its error (its RequestError carries the one
    SageMaker's toolkits answer with), else `default`."""
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) and 400 <= status < 500 else default


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
        server.metrics.observe("/ping", 200)
        return JSONResponse({"status": "healthy", **server.info})

    async def invocations(request: Any) -> Response:
        started = time.perf_counter()
        headers = request.headers
        rows = 0
        try:
            body = await _read_body(request)
            # scoring is CPU work: off the event loop, so /ping answers meanwhile
            text, media_type, rows = await run_in_threadpool(
                server.invoke, body, headers.get("content-type"), headers.get("accept")
            )
            response: Response = Response(text, media_type=media_type)
        except ServingError as exc:
            response = JSONResponse({"error": exc.reason}, status_code=exc.status)
        except Exception as exc:  # a bug in the package's handler: say so, keep serving
            traceback.print_exc()  # to the server's log
            response = JSONResponse(
                {"error": f"the model's handler failed: {type(exc).__name__}: {exc}"},
                status_code=500,
            )
        server.metrics.observe(
            "/invocations", response.status_code, time.perf_counter() - started, rows
        )
        return response

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


def deploy_model(
    project: Project, model_ref: str, port: int | None = None, name: str | None = None
) -> dict[str, Any]:
    """Start a server for `model_ref` in the background, wait until /ping answers, record it."""
    if name is not None:
        plain_name(name, "deployment name")
    archive = resolve_model(project, model_ref)
    digest = sha256_file(archive)
    name = name or _deployment_name(project, model_ref, digest)
    plain_name(name, "deployment name")
    existing = _read_record(project, name)
    if existing is not None and _alive(existing):
        raise MLOpsError(
            f"deployment '{name}' is already running on port {existing['port']}; "
            f"`cursus deployments stop {name}` first or pass another --name"
        )
    if port is not None and not _port_free(port):
        raise MLOpsError(f"port {port} on {HOST} is taken; pass another --port or none")
    port = port or _pick_port(project)
    folder = _deployment_folder(project, name)
    if folder.exists():
        shutil.rmtree(folder)
    model_dir = unpack(archive, folder / "model")
    log_path = folder / "server.log"
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    command = [
        sys.executable, "-m", "cursus.mlops.serving",
        "--model-dir", str(model_dir), "--port", str(port),
        "--model-ref", model_ref, "--sha256", digest,
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
    _wait_until_healthy(proc, port, log_path)
    record = {
        "name": name,
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
    path = _record_path(project, name)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def _wait_until_healthy(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _children.pop(proc.pid, None)
            raise MLOpsError(
                f"the model server exited with code {proc.returncode} before answering /ping:\n"
                + _tail(log_path)
            )
        if ping(port, timeout=0.5) is not None:
            return
        time.sleep(0.1)
    _terminate(proc.pid, proc)
    raise MLOpsError(
        f"the model server did not answer /ping within {START_TIMEOUT:g} s; log:\n{_tail(log_path)}"
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


def list_deployments(project: Project) -> list[dict[str, Any]]:
    """The project's recorded deployments, each with `alive` and `health` ("healthy" when /ping
    answers, "unresponsive" when the process runs but does not answer, "stopped" otherwise)."""
    folder = deployments_dir(project)
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if record.get("project") != project.name:
            continue
        alive = _alive(record)
        healthy = alive and ping(int(record["port"])) is not None
        record["alive"] = alive
        record["health"] = "healthy" if healthy else "unresponsive" if alive else "stopped"
        found.append(record)
    return found


def stop_deployment(project: Project, name: str) -> dict[str, Any]:
    """Stop deployment `name` (SIGTERM, then SIGKILL after a grace period); forget it."""
    plain_name(name, "deployment name")  # before any path or pid is read from it
    record = _read_record(project, name)
    if record is None or record.get("project") != project.name:
        known = ", ".join(d["name"] for d in list_deployments(project)) or "none"
        raise MLOpsError(
            f"no deployment '{name}' in project '{project.name}' (deployments: {known})"
        )
    was_alive = _alive(record)
    if was_alive:
        _terminate(int(record["pid"]), _children.get(int(record["pid"])))
    _children.pop(int(record["pid"]), None)
    _record_path(project, name).unlink(missing_ok=True)
    shutil.rmtree(_deployment_folder(project, name), ignore_errors=True)
    return {**record, "stopped": was_alive}


def stop_all(project: Project) -> list[dict[str, Any]]:
    return [stop_deployment(project, d["name"]) for d in list_deployments(project)]


def _terminate(pid: int, proc: subprocess.Popen[bytes] | None = None) -> None:
    import psutil

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
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
