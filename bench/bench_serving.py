"""What serving a packaged model through Cursus costs per request, next to a bare FastAPI app.

Builds a packaged XGBoost model by running the bundled xgboost_e2e pipeline in a temporary
workspace, then starts two servers on free 127.0.0.1 ports, both uvicorn processes:

- cursus: `deploy_model` of the model.tar.gz (the package's own inference handler, with schema
  checks, calibration and metrics);
- bare: a minimal FastAPI app that parses the CSV row and calls the same XGBoost Booster's predict.

It sends single-row CSV requests sequentially over one keep-alive httpx client per server, in
alternating blocks so that both see the same machine load, and reports p50/p99 latency and
throughput, and the overhead of Cursus (target: p99 overhead under 5 ms). Both servers are
stopped at the end. Then, in this process and without HTTP, it times the parts of one request
(the server's checks, the package's handler, its preprocessing, the Booster) to show where the
overhead lies. Prints a table and writes bench/results/serving.json.

    .venv/bin/python bench/bench_serving.py [--requests 2000] [--warmup 200]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import httpx
import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "serving.json"
HOST = "127.0.0.1"
BLOCK = 200
TARGET_P99_OVERHEAD_MS = 5.0


# ---------------------------------------------------------------- the bare server


def bare_app(model_dir: Path):
    """The same Booster, called directly on the row: no preprocessing, calibration or checks."""
    import xgboost as xgb
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    meta = json.loads((model_dir / "model_meta.json").read_text())
    booster = xgb.Booster()
    booster.load_model(str(model_dir / meta["model_file"]))
    booster.set_param({"nthread": 1})
    best = meta.get("best_iteration")
    kwargs = {"iteration_range": (0, int(best) + 1)} if best is not None else {}
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"status": "healthy"}

    @app.post("/invocations")
    async def invocations(request: Request) -> JSONResponse:
        row = (await request.body()).decode().strip().split(",")
        features = np.asarray([[float(v) for v in row]], dtype=np.float32)
        prob = float(booster.predict(xgb.DMatrix(features), **kwargs)[0])
        return JSONResponse({"predictions": [{"prob": prob}]})

    return app


def run_bare_server(model_dir: Path, port: int) -> None:
    import uvicorn

    uvicorn.run(bare_app(model_dir), host=HOST, port=port, log_level="warning", access_log=False)


def start_bare(model_dir: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--bare-server", str(model_dir), str(port)],
        stdin=subprocess.DEVNULL,
    )
    from cursus.mlops.serving import ping

    deadline = time.monotonic() + 120
    while ping(port) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the bare server did not start")
        time.sleep(0.1)
    return proc


# ---------------------------------------------------------------- the model


def build_package(root: Path) -> tuple[Path, str]:
    """Run xgboost_e2e; return its model.tar.gz and one held-out row as CSV (features in order)."""
    import pandas as pd

    from cursus.api.loading import load_dag
    from cursus.backends.local import LocalRunner
    from cursus.core.compiler import PipelineDAGCompiler
    from cursus.core.config_file import default_configs, save_configs

    dag = load_dag("xgboost_e2e")
    config = save_configs(default_configs(dag, pipeline_name="bench-serving"), root / "c.json")
    plan = PipelineDAGCompiler(config).compile_to_plan(dag)
    result = LocalRunner(
        plan, workspace=root / "ws", workers=2, registry_uri=str(root / "registry")
    ).run()
    if not result.ok:
        raise RuntimeError({n: s.error for n, s in result.steps.items() if not s.ok})
    archive = Path(result.steps["Package"].outputs["packaged_model"]) / "model.tar.gz"
    holdout = pd.read_parquet(
        Path(result.steps["DataLoading_calibration"].outputs["data"]) / "data.parquet"
    )
    meta = json.loads(
        (
            Path(result.steps["XGBoostTraining"].outputs["model_output"]) / "model_meta.json"
        ).read_text()
    )
    row = ",".join(repr(float(v)) for v in holdout[meta["features"]].iloc[0])
    return archive, row


# ---------------------------------------------------------------- measuring


def measure(clients: dict[str, httpx.Client], row: str, n: int, warmup: int) -> dict[str, dict]:
    """Alternate blocks of BLOCK requests between the servers until each has answered `n`."""
    headers = {"content-type": "text/csv", "accept": "application/json"}
    latencies: dict[str, list[float]] = {name: [] for name in clients}
    busy: dict[str, float] = dict.fromkeys(clients, 0.0)
    probs: dict[str, float] = {}
    for name, client in clients.items():
        for _ in range(warmup):
            response = client.post("/invocations", content=row, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{name} answered {response.status_code}: {response.text}")
    while any(len(v) < n for v in latencies.values()):
        for name, client in clients.items():
            block = min(BLOCK, n - len(latencies[name]))
            started_block = time.perf_counter()
            for _ in range(block):
                started = time.perf_counter()
                response = client.post("/invocations", content=row, headers=headers)
                latencies[name].append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{name} answered {response.status_code}: {response.text}")
            busy[name] += time.perf_counter() - started_block
            probs[name] = response.json()["predictions"][0]["prob"]
    stats = {}
    for name, values in latencies.items():
        ms = np.asarray(values) * 1000
        stats[name] = {
            "requests": len(values),
            "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p90_ms": round(float(np.percentile(ms, 90)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "mean_ms": round(float(ms.mean()), 3),
            "throughput_rps": round(len(values) / busy[name], 1),
            "prob": probs[name],
        }
    return stats


def breakdown(model_dir: Path, row: str, n: int = 1000) -> dict[str, dict[str, float]]:
    """Where a request's time goes, measured in this process on the same row (no HTTP)."""
    from cursus.mlops.invoke import ModelServer

    server = ModelServer(model_dir)
    handler, body = server.handler, row.encode()
    data = handler.input_fn(body, "text/csv")
    frame = handler.request_frame(data, server.model.features)
    loaded = server.model.model
    matrix = handler._tabular.apply_preprocessing(frame, loaded.preprocessing)
    parts = {
        "server.invoke (all of it)": lambda: server.invoke(body, "text/csv", "application/json"),
        "package handler: input_fn+predict_fn+output_fn": lambda: handler.output_fn(
            handler.predict_fn(handler.input_fn(body, "text/csv"), server.model), "application/json"
        ),
        "  of which _tabular.apply_preprocessing": lambda: handler._tabular.apply_preprocessing(
            frame, loaded.preprocessing
        ),
        "  of which Booster predict": lambda: loaded.predict_matrix(matrix),
        "server's own schema check": lambda: server.schema.check(data),
    }
    out = {}
    for name, call in parts.items():
        for _ in range(50):
            call()
        times = []
        for _ in range(n):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        ms = np.asarray(times) * 1000
        out[name] = {
            "p50_ms": round(float(np.percentile(ms, 50)), 4),
            "p99_ms": round(float(np.percentile(ms, 99)), 4),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument(
        "--bare-server", nargs=2, metavar=("MODEL_DIR", "PORT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.bare_server:
        run_bare_server(Path(args.bare_server[0]), int(args.bare_server[1]))
        return

    from cursus.mlops import serving
    from cursus.mlops.project import Project, free_port

    with tempfile.TemporaryDirectory(prefix="cursus-bench-serving-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        archive, row = build_package(root)
        print(f"packaged model built in {time.perf_counter() - started:.1f} s: {archive}")
        model_dir = serving.unpack(archive, root / "bare-model")
        project = Project.load("bench", root / "ws")
        bare = None
        try:
            record = serving.deploy_model(project, str(archive), port=free_port(), name="bench")
            bare_port = free_port({record["port"]})
            bare = start_bare(model_dir, bare_port)
            with (
                httpx.Client(base_url=record["url"], timeout=10) as cursus_client,
                httpx.Client(base_url=f"http://{HOST}:{bare_port}", timeout=10) as bare_client,
            ):
                stats = measure(
                    {"cursus": cursus_client, "bare": bare_client}, row, args.requests, args.warmup
                )
                metrics = cursus_client.get("/metrics").text
        finally:
            serving.stop_all(project)
            if bare is not None:
                bare.terminate()
                bare.wait(10)
        parts = breakdown(model_dir, row)
    overhead = {
        key: round(stats["cursus"][f"{key}_ms"] - stats["bare"][f"{key}_ms"], 3)
        for key in ("p50", "p90", "p99", "mean")
    }
    same = abs(stats["cursus"]["prob"] - stats["bare"]["prob"]) < 1e-6
    result = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "requests_per_server": args.requests,
        "warmup_per_server": args.warmup,
        "servers": stats,
        "overhead_ms": overhead,
        "target_p99_overhead_ms": TARGET_P99_OVERHEAD_MS,
        "target_met": overhead["p99"] < TARGET_P99_OVERHEAD_MS,
        "in_process_breakdown": parts,
        "same_probability": same,
        "invocations_counted_by_metrics": next(
            (
                line.split()[-1]
                for line in metrics.splitlines()
                if line.startswith("cursus_invocation_seconds_count")
            ),
            None,
        ),
    }
    print(f"{args.requests} sequential single-row CSV requests per server, keep-alive, loopback:")
    print(f"  {'server':8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'req/s':>8}")
    for name, s in stats.items():
        print(
            f"  {name:8} {s['p50_ms']:8.3f} {s['p90_ms']:8.3f} {s['p99_ms']:8.3f} "
            f"{s['mean_ms']:8.3f} {s['throughput_rps']:8.1f}"
        )
    print(
        f"  overhead p50 {overhead['p50']:.3f} ms, p99 {overhead['p99']:.3f} ms "
        f"(target < {TARGET_P99_OVERHEAD_MS:g} ms: {'met' if result['target_met'] else 'NOT met'}); "
        f"same probability: {same}"
    )
    print("in-process breakdown of one request (no HTTP):")
    for name, t in parts.items():
        print(f"  {name:48} p50 {t['p50_ms']:7.3f} ms  p99 {t['p99_ms']:7.3f} ms")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
