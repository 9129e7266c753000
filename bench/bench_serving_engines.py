"""The serving engines side by side on loopback, as ratios against a bare FastAPI app.

Builds a packaged XGBoost model (the bundled xgboost_e2e pipeline in a temporary workspace), then
serves it with:

- bare: a minimal FastAPI app calling the same Booster on the row (bench_serving.py's);
- fastapi: `cursus deploy` (uvicorn, the package's own handler with Cursus' checks);
- bentoml: `cursus models export-bento`, then `bentoml serve` of the bento;
- ray x1 and ray x2: `cursus deploy --engine ray --replicas N` (local Ray Serve).

Per engine: p50/p99 latency of sequential single-row CSV requests over one keep-alive client
(alternating blocks with the bare app, so both see the same machine load), and requests per
second with CONCURRENCY client threads for a fixed time. Ray runs in a phase of its own, after
BentoML is stopped (its background processes would load the others' measurements). Prints a table
and writes bench/results/serving_engines.json.

    .venv/bin/python bench/bench_serving_engines.py [--requests 1000] [--seconds 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx

from bench_serving import HOST, build_package, measure, start_bare

RESULTS = Path(__file__).resolve().parent / "results" / "serving_engines.json"
CONCURRENCY = 8


def throughput(url: str, row: str, seconds: float, threads: int = CONCURRENCY) -> float:
    """Requests per second answered 200 with `threads` clients sending for `seconds`."""
    headers = {"content-type": "text/csv", "accept": "application/json"}
    stop = time.perf_counter() + seconds
    counts = [0] * threads
    errors: list[str] = []

    def client(i: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            while time.perf_counter() < stop:
                response = http.post("/invocations", content=row, headers=headers)
                if response.status_code != 200:
                    errors.append(response.text)
                    return
                counts[i] += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise RuntimeError(errors[0])
    return sum(counts) / (time.perf_counter() - started)


def start_bento(tag: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as handle:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "bentoml"), "serve", tag,
             "--host", HOST, "--port", str(port)],
            stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bentoml serve exited:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://{HOST}:{port}/ping", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("bentoml serve did not answer /ping")


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def phase(
    urls: dict[str, str], row: str, requests: int, warmup: int, seconds: float
) -> dict[str, dict[str, Any]]:
    clients = {name: httpx.Client(base_url=url, timeout=30) for name, url in urls.items()}
    try:
        stats = measure(clients, row, requests, warmup)
    finally:
        for client in clients.values():
            client.close()
    for name, url in urls.items():
        stats[name]["concurrent_rps"] = round(throughput(url, row, seconds), 1)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=8.0, help="per throughput run")
    args = parser.parse_args()

    from cursus.mlops import serving
    from cursus.mlops.bento import export_bento
    from cursus.mlops.project import Project, free_port

    with tempfile.TemporaryDirectory(prefix="cursus-bench-engines-") as tmp:
        root = Path(tmp)
        os.environ["BENTOML_HOME"] = str(root / "bentoml")
        archive, row = build_package(root)
        model_dir = serving.unpack(archive, root / "bare-model")
        project = Project.load("bench", root / "ws")
        bare_port = free_port()
        bare = start_bare(model_dir, bare_port)
        bare_url = f"http://{HOST}:{bare_port}"
        timings: dict[str, float] = {}
        try:
            record = serving.deploy_model(project, str(archive), port=free_port(), name="api")
            started = time.perf_counter()
            bento = export_bento(project, str(archive))
            timings["bentoml export (s)"] = round(time.perf_counter() - started, 2)
            started = time.perf_counter()
            bento_port = free_port({record["port"], bare_port})
            bento_proc = start_bento(bento["bento_tag"], bento_port, root / "bento.log")
            timings["bentoml serve start (s)"] = round(time.perf_counter() - started, 2)
            try:
                first = phase(
                    {"bare": bare_url, "fastapi": record["url"],
                     "bentoml": f"http://{HOST}:{bento_port}"},
                    row, args.requests, args.warmup, args.seconds,
                )  # fmt: skip
            finally:
                stop_group(bento_proc)
            serving.stop_deployment(project, "api")
            ray_phases = {}
            for replicas in (1, 2):
                started = time.perf_counter()
                ray = serving.deploy_model(
                    project, str(archive), name=f"ray{replicas}", engine="ray", replicas=replicas
                )
                timings[f"ray x{replicas} start (s)"] = round(time.perf_counter() - started, 2)
                try:
                    ray_phases[replicas] = phase(
                        {"bare": bare_url, f"ray x{replicas}": ray["url"]},
                        row, args.requests, args.warmup, args.seconds,
                    )  # fmt: skip
                finally:
                    started = time.perf_counter()
                    stopped = serving.stop_deployment(project, f"ray{replicas}")
                    timings[f"ray x{replicas} stop (s)"] = round(time.perf_counter() - started, 2)
                    timings[f"ray x{replicas} leftovers killed"] = len(stopped["killed_leftovers"])
        finally:
            serving.stop_all(project)
            bare.terminate()
            bare.wait(10)

    engines: dict[str, dict[str, Any]] = {}
    for stats in (first, ray_phases[1], ray_phases[2]):
        base = stats["bare"]
        for name, values in stats.items():
            if name == "bare":
                continue
            engines[name] = {
                **values,
                "p50_vs_bare": round(values["p50_ms"] / base["p50_ms"], 2),
                "p99_vs_bare": round(values["p99_ms"] / base["p99_ms"], 2),
                "rps_vs_bare": round(values["concurrent_rps"] / base["concurrent_rps"], 3),
                "bare_in_same_phase": {k: base[k] for k in ("p50_ms", "p99_ms", "concurrent_rps")},
            }
    two_vs_one = round(engines["ray x2"]["concurrent_rps"] / engines["ray x1"]["concurrent_rps"], 2)
    result = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "requests_per_server": args.requests,
        "concurrency": CONCURRENCY,
        "seconds_per_throughput_run": args.seconds,
        "engines": engines,
        "ray_2_replicas_vs_1_rps": two_vs_one,
        "timings": timings,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{'engine':10} {'p50 ms':>8} {'p99 ms':>8} {'rps(seq)':>9} {'rps(x8)':>8}  vs bare FastAPI"
    )
    for name, v in engines.items():
        print(
            f"{name:10} {v['p50_ms']:8.2f} {v['p99_ms']:8.2f} {v['throughput_rps']:9.0f} "
            f"{v['concurrent_rps']:8.0f}  p50 {v['p50_vs_bare']}x, p99 {v['p99_vs_bare']}x, "
            f"rps {v['rps_vs_bare']}x"
        )
    print(f"ray: 2 replicas / 1 replica, concurrent rps: {two_vs_one}x ({os.cpu_count()} cores)")
    for key, value in timings.items():
        print(f"  {key}: {value}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
