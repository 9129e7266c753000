"""What runs inside a step's own process: load the script by path and call its `main`.

The runner forks this process from a server that has already imported the heavy libraries, so a
step does not pay their import time. Everything a step prints goes to its log file.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import math
import os
import sys
import threading
import time
import traceback
from multiprocessing import context as mp_context
from pathlib import Path
from typing import Any

from cursus.backends.local.processes import pid_alive

# Imported by the fork server before any step runs; each is skipped when not installed. A module
# missing here is imported again by every step that uses it (sklearn.datasets alone is ~0.3 s).
PRELOAD = [
    "numpy",
    "pandas",
    "pyarrow.parquet",
    "pyarrow.dataset",  # read_parquet of a folder
    "pyarrow.pandas_compat",  # Arrow <-> pandas conversion
    "sklearn.datasets",  # DataLoading: sklearn: and synthetic: sources
    "sklearn.metrics",
    "sklearn.model_selection",
    "sklearn.isotonic",
    "xgboost",
    "matplotlib.pyplot",
    "matplotlib.backends.backend_agg",  # savefig with the Agg backend
    "fsspec",
]
# the first optimizer step imports torch._dynamo lazily: seconds per PyTorch step otherwise
TORCH_PRELOAD = ["torch", "torch._dynamo"]


_START_LOCK = threading.Lock()
DONE = b"done"  # what a step process sends the runner once its ok result is written


class StepProcess(mp_context.ForkServerProcess):
    """A fork-server process for a step that does not re-run the parent's `__main__`.

    multiprocessing re-executes the parent's main script (as `__mp_main__`) in every child so that
    objects defined there can be unpickled. A step needs nothing from it: re-running it costs each
    step the script's imports (all of pytest under pytest), and a user's script that calls
    run_pipeline() without an `if __name__ == "__main__":` guard would start its whole pipeline
    again inside every step. So while a step starts, `__main__` shows multiprocessing neither a
    spec nor a file to re-run. The class lives here, in a module the fork server preloads, because
    the child unpickles the process object and would otherwise import its module first.
    """

    def start(self) -> None:
        start_without_main(super().start)


def start_without_main(start: Any) -> None:
    """Call `start` with `__main__` showing multiprocessing neither a spec nor a file (the fork
    server, started by the first step process, would import the parent's main script too)."""
    main = sys.modules["__main__"]
    with _START_LOCK:
        saved: dict[str, Any] = {
            k: main.__dict__[k] for k in ("__spec__", "__file__") if k in main.__dict__
        }
        main.__dict__["__spec__"] = None
        main.__dict__.pop("__file__", None)
        try:
            start()
        finally:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)


class WarmStepProcess(mp_context.SpawnProcess):
    """A step process started before its step is due (`warm_worker`), with StepProcess's
    start: a fresh interpreter that does not re-run the parent's `__main__` either."""

    def start(self) -> None:
        start_without_main(super().start)


# a Registration step into MLflow imports it (~1.7 s): a warm process does that while the
# pipeline's other steps run
WARM_PRELOAD = ["numpy", "pandas", "mlflow", "mlflow.store.tracking.sqlalchemy_store"]
WARM_NOTE = "MLflow imported while the steps before it ran"


def warm_worker(conn: Any, modules: list[str], warm: dict[str, Any] | None = None) -> None:
    """Import `modules`, then run the one step request the runner sends. The runner closing its
    end (it finished, or died) ends the process instead. Registration steps' early processes
    (spawned) and the runner's spare processes (forked from the fork server, no modules) run
    this.

    With `warm` (the step's script and the environment known before its inputs exist), the
    script is loaded now and its optional `prewarm(environ_vars)` called: set-up that changes
    nothing and costs time the first time (Registration opens the MLflow stores, ~0.2 s).
    Whatever it prints or raises is dropped: the step itself reports its own errors."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    for name in modules:
        with contextlib.suppress(Exception):  # a missing library is the step's to report
            importlib.import_module(name)
    if warm is not None:
        _prewarm(warm)
    try:
        request = conn.recv()
    except (EOFError, OSError):
        os._exit(0)
    run_step({**request, "done": conn})  # it says "done" on the same connection


def _prewarm(warm: dict[str, Any]) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(1), os.dup(2)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        with (
            open(os.devnull, "w") as quiet,
            contextlib.redirect_stdout(quiet),
            contextlib.redirect_stderr(quiet),
        ):
            module = load_script(Path(warm["script"]))
            _prewarmed[warm["script"]] = module
            hook = getattr(module, "prewarm", None)
            if callable(hook):
                hook(dict(warm["environ_vars"]))
    except BaseException:  # only a head start lost: the step reports its own errors
        pass
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (devnull, *saved):
            os.close(fd)


def run_step(request: dict[str, Any]) -> None:
    """Entry point of the step process; exits non-zero when the script raises. Its result says
    how long its own part took (the script's imports and main: `own_seconds`)."""
    entered = time.perf_counter()
    log = open(request["log_path"], "ab", buffering=0)  # noqa: SIM115 - lives as long as the process
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    _watch_runner(int(request["runner_pid"]))
    if request.get("cwd"):
        with contextlib.suppress(OSError):
            os.chdir(request["cwd"])
    os.environ.update(request["environ_vars"])
    result_path = Path(request["result_path"])
    started = time.perf_counter()
    baseline = _usage_baseline()
    try:
        metrics = call_main(request)
    except BaseException as exc:  # report whatever the script raised, then fail the process
        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}"
        _write(result_path, {"ok": False, "error": error, "hardware": hardware(baseline, started)})
        sys.stdout.flush()
        os._exit(1)
    _write(
        result_path,
        {
            "ok": True,
            "metrics": clean_metrics(metrics),
            "seconds": time.perf_counter() - started,
            "hardware": hardware(baseline, started),
            "own_seconds": time.perf_counter() - entered,
        },
    )
    sys.stdout.flush()
    sys.stderr.flush()
    done = request.get("done")
    if done is not None:  # the runner goes on now; nothing is left here but the exit
        with contextlib.suppress(OSError):
            done.send_bytes(DONE)
    os._exit(0)


# script path -> the module an early process loaded to call its `prewarm`: its step reuses it
_prewarmed: dict[str, Any] = {}


def load_script(script: Path) -> Any:
    """The step script as a new module, its folder on sys.path for its helper modules."""
    name = f"cursus_step_{script.stem}"
    if str(script.parent) not in sys.path:
        sys.path.insert(0, str(script.parent))
    spec = importlib.util.spec_from_file_location(name, script)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load step script {script}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.name]
        raise
    return module


def call_main(request: dict[str, Any]) -> Any:
    script = Path(request["script"])
    module = _prewarmed.pop(str(script), None) or load_script(script)
    if request.get("warm"):
        print(f"[cursus] {request['step']}: in a process started early ({WARM_NOTE})", flush=True)
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


def _usage_baseline() -> dict[str, float]:
    """What this process had already used when the step began (a forked child inherits its
    parent's resident memory and ru_maxrss)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu": usage.ru_utime + usage.ru_stime,
        "maxrss_mb": _maxrss_mb(usage.ru_maxrss),
        "rss_mb": _current_rss_mb(),
    }


def hardware(baseline: dict[str, float], started: float) -> dict[str, float]:
    """CPU, memory and GPU use of the step, measured in its own process.

    peak_rss_mb is the process's high-water resident memory, which for a forked step includes what
    it inherited from the fork server (rss_start_mb); rss_increase_mb is the growth beyond that.
    cpu_utilization is CPU seconds per wall second (above 1 when several cores were busy).
    """
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    wall = max(time.perf_counter() - started, 1e-9)
    cpu = usage.ru_utime + usage.ru_stime - baseline["cpu"]
    peak = _maxrss_mb(usage.ru_maxrss)
    found = {
        "cpu_user_seconds": usage.ru_utime,
        "cpu_system_seconds": usage.ru_stime,
        "cpu_seconds": cpu,
        "cpu_utilization": cpu / wall,
        "wall_seconds": wall,
        "peak_rss_mb": peak,
        "rss_start_mb": baseline["rss_mb"],
        "rss_increase_mb": max(0.0, peak - max(baseline["rss_mb"], 0.0)),
    }
    found.update(_gpu_memory())
    return {k: round(v, 4) for k, v in found.items()}


def _maxrss_mb(maxrss: int) -> float:
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 2**10  # bytes vs KiB


def _current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        try:
            import psutil

            return float(psutil.Process().memory_info().rss) / 2**20
        except Exception:
            return -1.0


def _gpu_memory() -> dict[str, float]:
    """Peak GPU memory when the step used torch on CUDA or Apple MPS (torch is never imported here)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    try:
        if torch.cuda.is_initialized():
            return {"gpu_peak_memory_mb": torch.cuda.max_memory_allocated() / 2**20}
        mps = getattr(torch, "mps", None)
        if mps is not None and torch.backends.mps.is_available():
            allocated = mps.driver_allocated_memory() / 2**20
            if allocated > 0:
                return {"mps_allocated_memory_mb": allocated}
    except Exception:  # a broken GPU stack does not fail a step that has finished
        return {}
    return {}


def _write(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, sort_keys=True))
    os.replace(tmp, path)


def _watch_runner(pid: int) -> None:
    """A step whose runner was killed stops too, instead of running on unwatched."""

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if not pid_alive(pid):
                os._exit(137)

    threading.Thread(target=watch, daemon=True, name="cursus-runner-watch").start()
