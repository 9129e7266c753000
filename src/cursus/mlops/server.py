"""A local MLflow server over the workspace's store, for the MLflow UI and for clients elsewhere.

Tracking and registration do not need it: they write the SQLite store directly. The server binds
127.0.0.1 at a port that is free when it starts, runs one worker with MLflow's job runner off
(about 0.5 GB instead of 3), and is described by `<workspace>/mlflow-server.json` (pid, port, URL)
so `status` and `stop` find it from another process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from cursus.backends.local.processes import pid_alive
from cursus.mlops.project import MLOpsError, free_port
from cursus.workspace import mlflow_available, resolve_workspace

HOST = "127.0.0.1"
STATE_FILE = "mlflow-server.json"
LOG_FILE = "mlflow-server.log"


def state_path(workspace: str | Path | None = None) -> Path:
    return resolve_workspace(workspace) / STATE_FILE


def healthy(url: str, timeout: float = 1.0) -> bool:
    """True when the server at `url` answers GET /health with 200."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError, urllib.error.URLError):
        return False


def server_status(workspace: str | Path | None = None) -> dict[str, Any]:
    """{'running': bool, 'healthy': bool, 'url', 'pid', 'port', ...} of the workspace's server."""
    path = state_path(workspace)
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"running": False, "healthy": False}
    running = _alive(int(state.get("pid", 0)))
    return {**state, "running": running, "healthy": running and healthy(state["url"])}


def loopback_hosts(port: int) -> list[str]:
    """The Host headers the MLflow server answers: loopback names, with or without its port
    (exact: a wildcard such as 127.* would also match the name 127.0.0.1.attacker.example)."""
    names = ("localhost", "127.0.0.1", "[::1]")
    return [*names, *(f"{name}:{port}" for name in names)]


def start_server(
    workspace: str | Path | None = None, port: int | None = None, timeout: float = 60.0
) -> dict[str, Any]:
    """Start the server (or return the one already running) and wait until /health answers."""
    if not mlflow_available():
        raise MLOpsError("MLflow is not installed; `pip install mlflow` to run a tracking server")
    root = resolve_workspace(workspace)
    current = server_status(root)
    if current["running"]:
        if current["healthy"] or _wait_healthy(current["url"], None, timeout):
            return {**current, "healthy": True, "started": False}
        raise MLOpsError(
            f"an MLflow server (pid {current['pid']}) runs for {root} but does not answer at "
            f"{current['url']}/health; stop it with `cursus mlops stop`"
        )
    root.mkdir(parents=True, exist_ok=True)
    (root / "mlartifacts").mkdir(exist_ok=True)
    port = port or free_port()
    url = f"http://{HOST}:{port}"
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--host", HOST,
        "--port", str(port),
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "mlartifacts"),
        "--workers", "1",
        # DNS-rebinding defence: MLflow's default also takes private addresses (10.*, 192.168.*)
        "--allowed-hosts", ",".join(loopback_hosts(port)),
    ]  # fmt: skip
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    log_path = root / LOG_FILE
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group: stop ends its workers too
        )
    state = {
        "pid": proc.pid,
        "port": port,
        "url": url,
        "backend_store_uri": f"sqlite:///{root / 'mlflow.db'}",
        "artifacts_destination": str(root / "mlartifacts"),
        "log": str(log_path),
        "started_at": time.time(),
    }
    _write_state(root, state)
    if not _wait_healthy(url, proc, timeout):
        reason = (
            f"exited with code {proc.returncode}"
            if proc.poll() is not None
            else f"did not answer {url}/health within {timeout:g} s"
        )
        _stop_group(proc.pid)
        proc.wait()
        state_path(root).unlink(missing_ok=True)
        raise MLOpsError(
            f"the MLflow server {reason}; its log ({log_path}) ends with:\n{_tail(log_path)}"
        )
    return {**state, "running": True, "healthy": True, "started": True}


def stop_server(workspace: str | Path | None = None, timeout: float = 15.0) -> bool:
    """Stop the workspace's server and its workers; False when none was running."""
    path = state_path(workspace)
    status = server_status(workspace)
    path.unlink(missing_ok=True)
    if not status["running"]:
        return False
    _stop_group(int(status["pid"]), timeout)
    return True


def _wait_healthy(url: str, proc: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if healthy(url, timeout=1.0):
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.2)
    return False


def _stop_group(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM the process group `pid` leads, SIGKILL what is left after `timeout`."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not _group_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    _reap(pid)


def _reap(pid: int) -> None:
    """Collect the exit status when `pid` is our child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _alive(pid: int) -> bool:
    _reap(pid)  # our own child exits as a zombie until collected
    return pid_alive(pid)


def _write_state(root: Path, state: dict[str, Any]) -> None:
    path = state_path(root)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(partial, path)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
