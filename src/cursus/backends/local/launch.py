"""What runs inside a step's own process: load the script by path and call its `main`.

The runner forks this process from a server that has already imported the heavy libraries, so a
step does not pay their import time. Everything a step prints goes to its log file.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

# Imported by the fork server before any step runs; each is skipped when not installed.
PRELOAD = [
    "numpy",
    "pandas",
    "pyarrow.parquet",
    "sklearn.metrics",
    "sklearn.model_selection",
    "sklearn.isotonic",
    "xgboost",
    "matplotlib.pyplot",
    "fsspec",
]
TORCH_PRELOAD = ["torch"]


def run_step(request: dict[str, Any]) -> None:
    """Entry point of the step process; exits non-zero when the script raises."""
    log = open(request["log_path"], "ab", buffering=0)  # noqa: SIM115 - lives as long as the process
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    _watch_runner(int(request["runner_pid"]))
    os.environ.update(request["environ_vars"])
    result_path = Path(request["result_path"])
    started = time.perf_counter()
    try:
        metrics = call_main(request)
    except BaseException as exc:  # report whatever the script raised, then fail the process
        traceback.print_exc()
        _write(result_path, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        sys.stdout.flush()
        os._exit(1)
    _write(
        result_path,
        {"ok": True, "metrics": clean_metrics(metrics), "seconds": time.perf_counter() - started},
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def call_main(request: dict[str, Any]) -> Any:
    script = Path(request["script"])
    if str(script.parent) not in sys.path:
        sys.path.insert(0, str(script.parent))
    spec = importlib.util.spec_from_file_location(f"cursus_step_{script.stem}", script)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load step script {script}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look the module up by name
    spec.loader.exec_module(module)
    print(f"[cursus] {request['step']}: {script.name}.main", flush=True)
    return module.main(
        request["input_paths"],
        request["output_paths"],
        request["environ_vars"],
        request["job_args"],
    )


def clean_metrics(metrics: Any) -> dict[str, float]:
    """Keep the finite numbers of what `main` returned; anything else is not a metric."""
    if not isinstance(metrics, dict):
        return {}
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            out[str(key)] = float(value)
    return out


def _write(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, sort_keys=True))
    os.replace(tmp, path)


def _watch_runner(pid: int) -> None:
    """A step whose runner was killed stops too, instead of running on unwatched."""

    def watch() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(137)

    threading.Thread(target=watch, daemon=True, name="cursus-runner-watch").start()
