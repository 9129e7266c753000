"""What compiling to a SageMaker pipeline definition costs, next to compiling to a Plan.

On the bundled 10-node xgboost_e2e DAG, times:
- in-process: the Plan compile; importing the SageMaker SDK (once per process); the first
  SageMaker compile after the import; later SageMaker compiles (Plan + definition, warm);
- a fresh process, as a user types it: `cursus compile ... --target plan` and
  `cursus compile ... --target sagemaker -o pipeline.json` (offline: no network, no credentials).

Processes run with compiled bytecode in a private cache, as an installed copy would (this kind of
machine sets PYTHONDONTWRITEBYTECODE; without the cache every process compiles the SDK's sources
again); one untimed warm-up fills it. Prints a table (medians) and writes
bench/results/sagemaker_compile.json.

    .venv/bin/python bench/bench_sagemaker_compile.py [--runs 5] [--process-runs 3]
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
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "sagemaker_compile.json"
CURSUS = str(Path(sys.executable).with_name("cursus"))
DAG = "xgboost_e2e"
ROLE = "arn:aws:iam::123456789012:role/CursusBench"
BUCKET = "cursus-bench-bucket"


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def write_config(path: Path) -> Path:
    from cursus.api.loading import load_dag
    from cursus.core.config_file import default_configs, save_configs

    save_configs(default_configs(load_dag(DAG), role=ROLE, bucket=BUCKET), path)
    return path


def process_env(pycache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def cli_compile(config: Path, target: str, out: Path, env: dict[str, str]) -> None:
    command = [CURSUS, "compile", DAG, "-c", str(config), "--target", target, "-o", str(out)]
    subprocess.run(command, check=True, capture_output=True, env=env, timeout=600)


def in_process(config: Path, runs: int) -> dict[str, object]:
    from cursus.api.loading import load_dag
    from cursus.backends.sagemaker import generate_pipeline
    from cursus.backends.sagemaker.sdk import load_sdk
    from cursus.core.compiler import PipelineDAGCompiler

    dag = load_dag(DAG)
    compiler = PipelineDAGCompiler(config)
    compiler.compile_to_plan(dag)  # warm the spec and script caches
    plan = [timed(lambda: compiler.compile_to_plan(dag)) for _ in range(runs)]
    sdk_import = timed(load_sdk)
    first = timed(lambda: generate_pipeline(compiler.compile_to_plan(dag)).definition())
    warm = [
        timed(lambda: generate_pipeline(compiler.compile_to_plan(dag)).definition())
        for _ in range(runs)
    ]
    return {
        "plan_s": plan,
        "sdk_import_s": sdk_import,
        "sagemaker_first_s": first,
        "sagemaker_warm_s": warm,
    }


def fresh_processes(config: Path, runs: int, root: Path) -> dict[str, list[float]]:
    env = process_env(root / "pycache")
    for target in ("plan", "sagemaker"):  # untimed: fills the bytecode cache
        cli_compile(config, target, root / f"warm-{target}.json", env)
    times: dict[str, list[float]] = {"plan": [], "sagemaker": []}
    for i in range(runs):
        for target in times:
            out = root / f"{target}-{i}.json"
            times[target].append(timed(lambda t=target, o=out: cli_compile(config, t, o, env)))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="in-process repetitions")
    parser.add_argument("--process-runs", type=int, default=3, help="fresh-process repetitions")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cursus-bench-sagemaker-") as tmp:
        root = Path(tmp)
        config = write_config(root / "config.json")
        processes = fresh_processes(config, args.process_runs, root)
        # this process imports from the same warm bytecode cache as the CLI processes did
        sys.pycache_prefix = str(root / "pycache")
        sys.dont_write_bytecode = False
        inside = in_process(config, args.runs)

    med = statistics.median
    rows = [
        ("in-process", "Plan", med(inside["plan_s"])),
        ("in-process", "import SageMaker SDK (once)", inside["sdk_import_s"]),
        ("in-process", "SageMaker, first after import", inside["sagemaker_first_s"]),
        ("in-process", "SageMaker (Plan + definition)", med(inside["sagemaker_warm_s"])),
        ("fresh process", "cursus compile --target plan", med(processes["plan"])),
        ("fresh process", "cursus compile --target sagemaker", med(processes["sagemaker"])),
    ]
    print(
        f"{DAG} (10 nodes), medians of {args.runs} in-process / {args.process_runs} process runs"
        f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    print(f"  {'where':14} {'what':36} {'ms':>9}")
    for where, what, seconds in rows:
        print(f"  {where:14} {what:36} {seconds * 1000:9.1f}")
    result = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),  # other work on the machine skews times
        "dag": DAG,
        "runs": args.runs,
        "process_runs": args.process_runs,
        "median_ms": {f"{where}: {what}": round(s * 1000, 1) for where, what, s in rows},
        "samples_s": {
            "in_process": {
                k: [round(x, 4) for x in v] if isinstance(v, list) else round(v, 4)
                for k, v in inside.items()
            },
            "fresh_process": {k: [round(x, 4) for x in v] for k, v in processes.items()},
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
