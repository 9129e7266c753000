"""`cursus deploy MODEL --engine ray`: a packaged model as a Ray Serve deployment on loopback.

The deployment process (`python -m cursus.mlops.ray_serving`, started by `deploy_model`) starts a
local Ray cluster of its own (nothing listens beyond 127.0.0.1, no dashboard), then Ray Serve with
its HTTP proxy on the deployment's port, and N replicas of `CursusReplica` behind one route. Each
replica answers through the same `ModelServer` as the FastAPI server, so the same request gets the
same answer. SIGTERM (`cursus deployments stop`) shuts Serve and Ray down and the process exits;
`deploy_model` kills whatever Ray process is left after that.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cursus.mlops.invoke import ModelServer, error_body

HOST = "127.0.0.1"
APP_NAME = "cursus"
# what a replica answers in parallel; the model scores one request at a time per replica
MAX_ONGOING_REQUESTS = 8


class CursusReplica:
    """One replica: the package's handler behind Ray Serve's HTTP proxy."""

    def __init__(self, model_dir: str, model_ref: str, digest: str) -> None:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        _replica_grpc_on_loopback()
        self.server = ModelServer(Path(model_dir), model_ref, digest)

    async def __call__(self, request: Any) -> Any:
        from starlette.responses import JSONResponse, PlainTextResponse, Response

        from cursus.loopback import host_of, is_loopback_name

        started = time.perf_counter()
        host = host_of(request.headers.get("host", ""))
        if not is_loopback_name(host):  # DNS rebinding: as the FastAPI server refuses it
            return PlainTextResponse(f"Host {host!r} is not a loopback name\n", status_code=421)
        path, method = request.url.path.rstrip("/") or "/", request.method
        if path == "/ping" and method in ("GET", "HEAD"):
            return JSONResponse(self.server.ping())
        if path == "/invocations" and method == "POST":
            body = await request.body()
            status, text, media_type = await asyncio.to_thread(
                self.server.answer,
                body,
                request.headers.get("content-type"),
                request.headers.get("accept"),
                started,
            )
            return Response(text, status_code=status, media_type=media_type)
        if path == "/metrics" and method == "GET":
            return PlainTextResponse(
                self.server.metrics.render(self.server.info), media_type="text/plain; version=0.0.4"
            )
        known = path in ("/ping", "/invocations", "/metrics")
        return Response(
            error_body(f"{method} {path} is not served; POST /invocations, GET /ping"),
            status_code=405 if known else 404,
            media_type="application/json",
        )


def _replica_grpc_on_loopback() -> None:
    """Bind the replica's inter-deployment gRPC server to 127.0.0.1.

    Ray Serve 2.60 binds it to "[::]:0", every interface, whatever the node's address (its
    replica.py); everything else Ray starts here binds to the node address, which is 127.0.0.1
    (see `ray_environment`). The server starts after the replica's constructor returns, so
    wrapping the helper it calls, in this replica's process, is enough. A Ray without that
    helper is left alone.
    """
    try:
        from ray.serve._private import replica
    except ImportError:  # pragma: no cover - another Ray layout
        return
    original = getattr(replica, "add_port_to_grpc_server", None)
    if original is None or getattr(original, "cursus_loopback", False):
        return

    def on_loopback(server: Any, address: str) -> Any:
        if address.startswith("[::]:") or address.startswith("0.0.0.0:"):
            address = f"{HOST}:{address.rsplit(':', 1)[1]}"
        return original(server, address)

    on_loopback.cursus_loopback = True  # type: ignore[attr-defined]
    replica.add_port_to_grpc_server = on_loopback


def ray_environment() -> dict[str, str]:
    """What the deployment process runs with: a local Ray whose node address is 127.0.0.1 (so
    its servers bind there, as on macOS, where Ray runs local-only), no usage reports."""
    return {
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_DEDUP_LOGS": "0",
    }


def ray_temp_root() -> Path:
    """Where Ray keeps its sessions: RAY_TMPDIR, else TMPDIR (Linux), else /tmp; then ray/."""
    import tempfile

    return Path(os.environ.get("RAY_TMPDIR") or tempfile.gettempdir()) / "ray"


def remove_ray_session(pid: int) -> list[Path]:
    """Delete the session folders Ray kept for the deployment process `pid` (logs and sockets,
    `<RAY_TMPDIR or /tmp>/ray/session_<date>_<time>_<pid>`), once its Ray has stopped."""
    import shutil

    root = ray_temp_root()
    removed = []
    for folder in root.glob(f"session_*_{int(pid)}"):
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    latest = root / "session_latest"
    if latest.is_symlink() and not latest.exists():  # it pointed at one of those
        latest.unlink(missing_ok=True)
    return removed


def serve_forever(
    model_dir: Path, port: int, replicas: int, model_ref: str, digest: str, num_cpus: int
) -> None:
    """Start Ray, Serve and the replicas; block until SIGTERM or SIGINT; shut everything down."""
    import ray
    from ray import serve

    # a package that cannot load fails here, at once, not in replicas Serve retries for minutes
    ModelServer(model_dir, model_ref, digest)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    ray.init(
        num_cpus=num_cpus,
        include_dashboard=False,
        _node_ip_address=HOST,
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        serve.start(http_options={"host": HOST, "port": port})
        deployment = serve.deployment(
            name="model",
            num_replicas=replicas,
            ray_actor_options={"num_cpus": 0},  # replicas share the cores the scheduler has
            max_ongoing_requests=MAX_ONGOING_REQUESTS,
            health_check_period_s=2,
        )(CursusReplica)
        serve.run(
            deployment.bind(str(model_dir), model_ref, digest),
            name=APP_NAME,
            route_prefix="/",
            blocking=False,
        )
        print(f"serving {model_ref} with {replicas} replica(s) on http://{HOST}:{port}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        print("shutting down Ray Serve and Ray", flush=True)
        try:
            serve.shutdown()
        finally:
            ray.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="serve an unpacked model.tar.gz with Ray Serve")
    parser.add_argument("--model-dir", required=True, type=Path)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--model-ref", default="")
    parser.add_argument("--sha256", default="")
    parser.add_argument("--num-cpus", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    serve_forever(
        args.model_dir, args.port, args.replicas, args.model_ref, args.sha256, args.num_cpus
    )
    sys.exit(0)


if __name__ == "__main__":
    main()
