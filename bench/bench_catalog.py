"""How long `cursus catalog list` takes as a fresh process, as a user types it (target: 300 ms).

Times (median of --runs, after an untimed warm-up) a fresh `cursus catalog list`, next to a bare
Python start and `cursus --help`, and breaks the list command's imports down with
`python -X importtime`: the catalog's own modules, the CLI and what its parts import at start-up.
Also checks that listing imports neither the SageMaker SDK nor MLflow.

Processes run with compiled bytecode in a private cache, as an installed copy would (this kind of
machine sets PYTHONDONTWRITEBYTECODE; without the cache every process compiles its sources
again). Prints a table and writes bench/results/catalog.json.

    .venv/bin/python bench/bench_catalog.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "catalog.json"
CURSUS = str(Path(sys.executable).with_name("cursus"))
TARGET_S = 0.300
HEAVY = ("sagemaker", "mlflow", "boto3", "torch", "pandas")


def process_env(pycache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed_runs(command: list[str], env: dict[str, str], runs: int) -> list[float]:
    subprocess.run(command, check=True, capture_output=True, env=env)  # warm-up, untimed
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - started)
    return times


def import_breakdown(env: dict[str, str]) -> dict[str, float]:
    """Cumulative import time (ms) of the top-level imports of `cursus catalog list`."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cursus", "catalog", "list"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    cumulative: dict[str, float] = {}
    modules = set()
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if not match:
            continue
        micros, depth, name = int(match[1]), len(match[2]), match[3]
        modules.add(name.split(".")[0])
        key = name if name.startswith("cursus") else name.split(".")[0]
        if depth <= 3:  # the module and what it imports directly
            cumulative[key] = max(cumulative.get(key, 0.0), micros / 1000)
    heavy = sorted(modules & set(HEAVY))
    if heavy:
        raise SystemExit(f"`cursus catalog list` imported {heavy}")
    top = dict(sorted(cumulative.items(), key=lambda kv: -kv[1])[:12])
    return top


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cursus-bench-catalog-") as tmp:
        env = process_env(Path(tmp) / "pycache")
        times = {
            "python -c pass": timed_runs([sys.executable, "-c", "pass"], env, args.runs),
            "cursus --help": timed_runs([CURSUS, "--help"], env, args.runs),
            "cursus catalog list": timed_runs([CURSUS, "catalog", "list"], env, args.runs),
            "cursus catalog list --json": timed_runs(
                [CURSUS, "catalog", "list", "--json"], env, args.runs
            ),
        }
        imports = import_breakdown(env)

    med = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"fresh processes, median of {args.runs} (target for `cursus catalog list`: "
        f"{TARGET_S * 1000:.0f} ms)"
    )
    for name, value in med.items():
        print(f"  {name:30} {value * 1000:7.0f} ms")
    print("imports of `cursus catalog list` (cumulative ms, one run):")
    for name, ms in imports.items():
        print(f"  {name:40} {ms:7.1f}")
    verdict = "meets" if med["cursus catalog list"] < TARGET_S else "misses"
    print(
        f"`cursus catalog list` {verdict} the {TARGET_S * 1000:.0f} ms target; imports none of {', '.join(HEAVY)}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "runs": args.runs,
                "median_s": med,
                "times_s": times,
                "imports_ms": imports,
                "target_s": TARGET_S,
                "meets_target": med["cursus catalog list"] < TARGET_S,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "load_average": os.getloadavg(),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
