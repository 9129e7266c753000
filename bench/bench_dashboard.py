"""How fast the dashboard answers with 1,000 recorded runs (target: the overview under 2 s).

Seeds 1,000 runs of ten steps each into a temporary workspace's runs.db through the RunRecords
API (every tenth failed, a third with cache hits), starts the dashboard under uvicorn on a
loopback port, and times GET / (the overview), /runs (page 1 of 20), /runs?page=20 and one run
page over HTTP: median and max of --runs requests after a warm-up. Prints a table and writes
bench/results/dashboard.json.

    .venv/bin/python bench/bench_dashboard.py [--runs 10] [--n-runs 1000]
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from cursus.backends.local.records import RunRecords
from cursus.dashboard import create_app

RESULTS = Path(__file__).resolve().parent / "results" / "dashboard.json"
TARGET_SECONDS = 2.0
STEPS = [f"Step{i}" for i in range(10)]


def seed(workspace: Path, n_runs: int) -> list[str]:
    records = RunRecords(workspace / "runs.db")
    ids = []
    t0 = time.time() - n_runs * 60
    for i in range(n_runs):
        run_id = f"20260101-{i:06d}-{i:06x}"
        records.start_run(
            run_id,
            {"pipeline_name": f"pipeline-{i % 7}", "pipeline_version": "1.0"},
            f"{i:064x}",
            str(workspace / "runs" / run_id / "plan.json"),
            [(name, "Processing") for name in STEPS],
        )
        for k, name in enumerate(STEPS):
            records.update_step(
                run_id,
                name,
                status="failed" if i % 10 == 0 and k == 9 else "succeeded",
                cache_hit=i % 3 == 0 and k < 5,
                started=t0 + i * 60 + k,
                ended=t0 + i * 60 + k + 0.9,
                metrics={"auc": 0.9 + (i % 10) / 100},
                outputs={"out": f"{i * 10 + k:064x}"},
            )
        records.finish_run(run_id, "failed" if i % 10 == 0 else "succeeded")
        ids.append(run_id)
    return ids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed(client: httpx.Client, path: str, runs: int) -> dict[str, float]:
    assert client.get(path).status_code == 200, path  # warm-up
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(path)
        seconds.append(time.perf_counter() - start)
        assert response.status_code == 200, path
    return {"median": statistics.median(seconds), "max": max(seconds)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed requests per page")
    parser.add_argument("--n-runs", type=int, default=1000, help="recorded runs to seed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cursus-bench-dashboard-") as tmp:
        workspace = Path(tmp) / "ws"
        start = time.perf_counter()
        ids = seed(workspace, args.n_runs)
        seeding = time.perf_counter() - start
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(workspace), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        pages = {
            "overview /": "/",
            "runs page 1": "/runs",
            "runs last page": f"/runs?page={(args.n_runs + 49) // 50}",
            "one run": f"/runs/{ids[len(ids) // 2]}",
        }
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                results = {name: timed(client, path, args.runs) for name, path in pages.items()}
        finally:
            server.should_exit = True
            thread.join(10)
    print(f"{args.n_runs} runs seeded in {seeding:.1f} s; {args.runs} requests per page\n")
    print(f"{'page':18} {'median ms':>10} {'max ms':>10}")
    for name, r in results.items():
        print(f"{name:18} {r['median'] * 1000:10.1f} {r['max'] * 1000:10.1f}")
    ok = results["overview /"]["median"] < TARGET_SECONDS
    print(f"\noverview median {'within' if ok else 'OVER'} the {TARGET_SECONDS:.0f} s target")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "n_runs": args.n_runs,
                "requests": args.runs,
                "seconds": results,
                "target_seconds": TARGET_SECONDS,
                "ok": ok,
                "python": sys.version.split()[0],
                "machine": platform.machine(),
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
