"""What MLflow tracking costs: one metric logged through Cursus, and tracking on a cached e2e run.

1. `MLOpsClient.log_metrics(run, {"m": v})` (one MLflow log_batch) against the embedded SQLite
   store, ~500 calls: median and p99 (target: median < 10 ms); the same call on the active run
   (`log_metrics({"m": v})` inside `with client.start_run(...)`, the design's style) and
   MlflowClient.log_metric alongside.
2. The bundled xgboost_e2e served from cache, run in-process: no tracking, tracking written by a
   background process (what `cursus run` does; the run does not wait for it), and tracking written
   by a thread that the run waits for (`run_pipeline(tracking=True)`). Interleaved, median wall.
   The background writer of one repetition finishes before the next starts (outside the timing).
   After the first run MLflow is imported and its store open in this process, so the thread
   writer's figure is the warm cost; what a cold start pays is item 4.
3. The same as a cold `cursus run` process, with and without `--no-tracking`.
4. Importing MLflow and opening the existing store in a fresh process (what the background
   writer pays, off the run's path).

Prints a table and writes bench/results/tracking.json.

    .venv/bin/python bench/bench_tracking.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.pop("MLFLOW_TRACKING_URI", None)

from cursus.api.loading import load_dag
from cursus.core.config_file import default_configs, save_configs
from cursus.mlops.client import MLOpsClient
from cursus.mlops.tracking import MLflowTracking
from cursus.targets import run_pipeline

RESULTS = Path(__file__).resolve().parent / "results" / "tracking.json"
CURSUS = str(Path(sys.executable).with_name("cursus"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_log_metric(workspace: Path, calls: int) -> dict[str, dict[str, float]]:
    client = MLOpsClient.from_project("bench", workspace)
    run = client.start_run("log-metric")
    for i in range(20):  # warm up: store opened, statements prepared
        client.log_metrics(run.run_id, {"warm": float(i)})
    cursus_ms, active_ms, raw_ms = [], [], []
    for i in range(calls):
        started = time.perf_counter()
        client.log_metrics(run.run_id, {"m": float(i)}, step=i)
        cursus_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        client.log_metrics({"design": float(i)}, step=i)  # the active run: the design's style
        active_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        client.mlflow.log_metric(run.run_id, "raw", float(i), step=i)
        raw_ms.append((time.perf_counter() - started) * 1000)
    run.end()
    return {
        name: {
            "calls": calls,
            "median_ms": statistics.median(values),
            "p99_ms": percentile(values, 0.99),
        }
        for name, values in (
            ("MLOpsClient.log_metrics", cursus_ms),
            ("MLOpsClient.log_metrics (active run)", active_ms),
            ("MlflowClient.log_metric", raw_ms),
        )
    }


def bench_cached_run(root: Path, repeats: int) -> dict[str, dict[str, float]]:
    config = save_configs(default_configs(load_dag("xgboost_e2e")), root / "config.json")
    workspace = root / "ws"
    first = run_pipeline("xgboost_e2e", config, workspace=workspace, tracking=True)  # fills cache
    assert first.ok, {n: s.error for n, s in first.steps.items() if not s.ok}
    walls: dict[str, list[float]] = {"none": [], "background": [], "thread (waits)": []}
    for _ in range(repeats):
        for mode in walls:
            hooks = []
            if mode == "background":
                hooks = [MLflowTracking(workspace=workspace, background=True)]
            elif mode != "none":
                hooks = [MLflowTracking(workspace=workspace)]
            started = time.perf_counter()
            result = run_pipeline(
                "xgboost_e2e", config, workspace=workspace, hooks=hooks, tracking=False
            )
            walls[mode].append(time.perf_counter() - started)
            assert result.ok and {s.status for s in result.steps.values()} == {"cached"}
            for hook in hooks:
                assert hook.wait(timeout=300), "the tracking writer did not finish"
    base = statistics.median(walls["none"])
    return {
        mode: {
            "median_s": statistics.median(values),
            "overhead_s": statistics.median(values) - base,
            "runs": len(values),
        }
        for mode, values in walls.items()
    }


def bench_cli(root: Path, repeats: int) -> dict[str, dict[str, float]]:
    config, workspace = root / "config.json", root / "ws"
    walls: dict[str, list[float]] = {"--no-tracking": [], "tracked (default)": []}
    for _ in range(repeats):
        for mode in walls:
            extra = ["--no-tracking"] if mode == "--no-tracking" else []
            started = time.perf_counter()
            subprocess.run(
                [CURSUS, "run", "xgboost_e2e", "-c", str(config), "--workspace", str(workspace),
                 "--quiet", *extra],
                check=True,
            )  # fmt: skip
            walls[mode].append(time.perf_counter() - started)
            time.sleep(0.5)
            _wait_for_writers(workspace)
    base = statistics.median(walls["--no-tracking"])
    return {
        mode: {
            "median_s": statistics.median(values),
            "overhead_s": statistics.median(values) - base,
            "runs": len(values),
        }
        for mode, values in walls.items()
    }


def bench_cold_open(workspace: Path, repeats: int) -> dict[str, float]:
    code = (
        "import sys, time\nstarted = time.perf_counter()\n"
        "from cursus.mlops.tracking import mlflow_client\n"
        "mlflow_client(sys.argv[1])\nprint(time.perf_counter() - started)"
    )
    uri = f"sqlite:///{workspace / 'mlflow.db'}"
    seconds = [
        float(subprocess.run([sys.executable, "-c", code, uri], capture_output=True, text=True,
                             check=True).stdout)
        for _ in range(repeats)
    ]  # fmt: skip
    return {"median_s": statistics.median(seconds), "runs": len(seconds)}


def _wait_for_writers(workspace: Path, timeout: float = 300) -> None:
    """Let the background tracking writer of the last `cursus run` finish before the next run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = subprocess.run(
            ["pgrep", "-f", f"cursus.mlops.tracking sqlite:///{workspace.resolve()}/"],
            capture_output=True,
            text=True,
        )
        if not found.stdout.strip():
            return
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and repetitions")
    args = parser.parse_args()
    calls, repeats = (100, 2) if args.quick else (500, 7)
    with tempfile.TemporaryDirectory(prefix="cursus-bench-tracking-") as tmp:
        root = Path(tmp)
        log_metric = bench_log_metric(root / "metric-ws", calls)
        cached = bench_cached_run(root, repeats)
        cli = bench_cli(root, max(2, repeats - 2))
        cold = bench_cold_open(root / "ws", max(2, repeats - 2))
    print(f"{'log one metric (SQLite store)':36} {'median ms':>10} {'p99 ms':>9}")
    for name, row in log_metric.items():
        print(f"  {name:34} {row['median_ms']:10.2f} {row['p99_ms']:9.2f}")
    print(f"\n{'cached xgboost_e2e, in-process (warm)':36} {'median s':>10} {'overhead':>9}")
    for name, row in cached.items():
        print(f"  {name:34} {row['median_s']:10.3f} {row['overhead_s']:+9.3f}")
    print(f"\n{'cached xgboost_e2e, `cursus run`':36} {'median s':>10} {'overhead':>9}")
    for name, row in cli.items():
        print(f"  {name:34} {row['median_s']:10.3f} {row['overhead_s']:+9.3f}")
    print(f"\nimport MLflow + open the store, fresh process: {cold['median_s']:.2f} s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "log_metric": log_metric,
                "cached_run_in_process": cached,
                "cached_run_cli": cli,
                "cold_mlflow_open": cold,
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "load_average": os.getloadavg(),
                },
                "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
