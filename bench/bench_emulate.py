"""Emulating the SageMaker pipeline in image twins, next to running it with the local runner.

On the bundled xgboost_e2e DAG (one config, role and bucket set), times in one process:
- `cursus run` the local way: `run_pipeline` on a fresh workspace, no cache, no tracking;
- `cursus sagemaker emulate`: the definition compiled, then each job run in its image's twin
  (its own namespaces, /opt/ml, no network), two at a time as the local runner does;
and the ratio. Per-step emulation times show where the time goes (each job starts a fresh
Python 3.9 and imports pandas, scikit-learn or xgboost there: the local runner forks from a
server that has them imported already). Needs the twins (`cursus sagemaker twins build`).
Prints a table and writes bench/results/emulate.json.

    .venv/bin/python bench/bench_emulate.py [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

RESULTS = Path(__file__).resolve().parent / "results" / "emulate.json"
DAG = "xgboost_e2e"


def write_config(path: Path) -> Path:
    from cursus.api.loading import load_dag
    from cursus.core.config_file import default_configs, save_configs

    role = "arn:aws:iam::123456789012:role/CursusBench"
    return save_configs(default_configs(load_dag(DAG), role=role, bucket="cursus-bench"), path)


def local_run(config: Path, root: Path) -> float:
    from cursus.targets import run_pipeline

    started = time.perf_counter()
    result = run_pipeline(DAG, config, workspace=root, use_cache=False, workers=2, tracking=False)
    seconds = time.perf_counter() - started
    assert result.ok, {n: s.error for n, s in result.steps.items() if not s.ok}
    return seconds


def emulation(config: Path, root: Path) -> tuple[float, dict[str, float]]:
    from cursus.backends.sagemaker.emulate import emulate
    from cursus.targets import compile_dag

    started = time.perf_counter()
    result = emulate(compile_dag(DAG, config), root, workers=2)
    seconds = time.perf_counter() - started
    assert result.succeeded, {s.name: s.reason for s in result.steps if s.reason}
    return seconds, {s.name: s.seconds for s in result.steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = write_config(root / "config.json")
        local_run(config, root / "warm")  # starts the fork server, fills the OS caches
        emulation(config, root / "warm-emulate")
        local = [local_run(config, root / f"local{i}") for i in range(args.runs)]
        emulated = [emulation(config, root / f"emulate{i}") for i in range(args.runs)]
    local_s = statistics.median(local)
    emulate_s = statistics.median(e[0] for e in emulated)
    result = {
        "dag": DAG,
        "runs": args.runs,
        "load_average": os.getloadavg()[0],
        "local_run_s": round(local_s, 2),
        "emulate_s": round(emulate_s, 2),
        "ratio": round(emulate_s / local_s, 2),
        "emulated_steps_s": emulated[-1][1],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'what':<40} {'seconds':>8}")
    print(f"{'local run (no cache, 2 workers)':<40} {local_s:>8.2f}")
    print(f"{'emulation in twins (2 at a time)':<40} {emulate_s:>8.2f}")
    print(f"{'ratio emulation / local':<40} {result['ratio']:>8.2f}")
    for name, seconds in result["emulated_steps_s"].items():
        print(f"  {name:<38} {seconds:>8.2f}")
    print(f"load average {result['load_average']:.2f}; wrote {RESULTS}")


if __name__ == "__main__":
    main()
