"""How long a fully cached re-run of the e2e pipeline takes.

The bundled xgboost_e2e pipeline is run once in a fresh workspace (its outputs fill the cache), then
timed again, every step a cache hit:

- as a fresh `cursus run` process (Python start, imports, compile, run, summary), with and
  without MLflow tracking (the command tracks by default);
- in-process: LocalRunner.run() on an already compiled Plan, and run_pipeline() (compile + run).

A cached re-run never starts the fork server, so no heavy library is imported. Models go to a folder
registry in every variant, so that the Registration step's cache key is the same throughout.
Median of REPEATS each, wall and CPU seconds (the CPU time shows what the
re-run costs when the machine is shared and the wall time waits for a core). Two floors are timed in
the same loop, so the figures read as ratios on a noisy machine: a bare `python -c pass`, and
`python -c "import click"` (the CLI's own framework, imported by any click command). Issue 18's
target is 0.15 s for the fresh process. Writes bench/results/cached_rerun.json.

    .venv/bin/python bench/bench_cached_rerun.py [--repeats N]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _runner_common import (
    compile_plan,
    load_dag,
    table,
    wait_for_writers,
    write_config,
    write_results,
)
from cursus.backends.local import LocalRunner
from cursus.targets import run_pipeline

TARGET_S = 0.15  # issue 18: a fully cached re-run as a fresh process
CURSUS = str(Path(sys.executable).with_name("cursus"))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli(config: Path, ws: Path, registry: str, *extra: str) -> tuple[float, float]:
    """Wall and CPU seconds of one `cursus run` process (CPU: its own and its children's, once
    reaped; a tracking writer that outlives it is not counted)."""
    cmd = [CURSUS, "run", "xgboost_e2e", "-c", str(config), "--workspace", str(ws)]
    cmd += ["--registry-uri", registry, "--quiet", *extra]
    cpu = children_cpu()
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return wall, children_cpu() - cpu


def floor(code: str) -> tuple[float, float]:
    """Wall and CPU seconds of `python -c CODE` in this interpreter."""
    cpu, started = children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started, children_cpu() - cpu


def in_process(fn) -> tuple[float, float, object]:
    """Wall and CPU seconds (all threads of this process) of fn()."""
    cpu, started = time.process_time(), time.perf_counter()
    result = fn()
    return time.perf_counter() - started, time.process_time() - cpu, result


def all_cached(ws: Path) -> bool:
    from cursus.backends.local.records import RunRecords

    records = RunRecords(ws / "runs.db")
    last = records.get_run(records.list_runs(1)[0]["run_id"])
    return all(s["status"] == "cached" for s in last["steps"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cached-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        dag = load_dag("xgboost_e2e")
        config = write_config(root / "config.json", dag)
        plan = compile_plan(dag, config)
        ws, registry = root / "ws", str(root / "registry")
        t = time.perf_counter()
        first = LocalRunner(plan, workspace=ws, registry_uri=registry).run()
        first_s = time.perf_counter() - t
        assert first.ok, {n: s.error for n, s in first.steps.items() if not s.ok}

        names = [
            "cursus run (fresh process, --no-tracking)",
            "cursus run (fresh process, MLflow tracking on)",
            "LocalRunner.run() in-process",
            "run_pipeline() in-process (compile + run)",
            "floor: python -c pass",
            'floor: python -c "import click"',
        ]
        timings: dict[str, list[float]] = {n: [] for n in names}
        cpus: dict[str, list[float]] = {n: [] for n in names}
        checks = []
        tracking = f"sqlite:///{root / 'mlflow.db'}"
        for _ in range(args.repeats):
            for name, fn in (
                (names[2], lambda: LocalRunner(plan, workspace=ws, registry_uri=registry).run()),
                (
                    names[3],
                    lambda: run_pipeline(
                        dag, config, workspace=ws, registry_uri=registry, tracking=False
                    ),
                ),
            ):
                wall, cpu, result = in_process(fn)
                timings[name].append(wall)
                cpus[name].append(cpu)
                checks.append({s.status for s in result.steps.values()} == {"cached"})
            for name, extra in (
                (names[0], ["--no-tracking"]),
                (names[1], ["--tracking-uri", tracking]),
            ):
                wall, cpu = cli(config, ws, registry, *extra)
                timings[name].append(wall)
                cpus[name].append(cpu)
                checks.append(all_cached(ws))
            for name, code in ((names[4], "pass"), (names[5], "import click")):
                wall, cpu = floor(code)
                timings[name].append(wall)
                cpus[name].append(cpu)
            wait_for_writers(root)  # a detached tracking writer would slow the next measurement
        wait_for_writers(root)
        if not all(checks):
            raise SystemExit(
                "a re-run was not fully cached; the benchmark would not measure the cache"
            )

    medians = {k: statistics.median(v) for k, v in timings.items()}
    cpu_medians = {k: statistics.median(v) for k, v in cpus.items()}
    print(
        table(
            [
                [
                    k,
                    medians[k],
                    min(v),
                    max(v),
                    cpu_medians[k],
                    "" if k.startswith("floor") else "yes" if medians[k] <= TARGET_S else "NO",
                ]
                for k, v in timings.items()
            ],
            [
                "fully cached e2e re-run (10 steps)",
                "median s",
                "min s",
                "max s",
                "CPU s",
                f"<= {TARGET_S:g} s",
            ],
        )
    )
    fresh = medians[names[0]]
    print(
        f"\nfresh cached re-run / python -c pass: {fresh / medians[names[4]]:.1f}x; "
        f"/ import click: {fresh / medians[names[5]]:.1f}x; "
        f"tracked / untracked: {medians[names[1]] / fresh:.2f}x"
    )
    print(f"first (uncached) run, in-process incl. fork server start: {first_s:.2f} s")
    write_results(
        "cached_rerun",
        {
            "steps": len(plan.steps),
            "repeats": args.repeats,
            "target_s": TARGET_S,
            "median_s": medians,
            "median_cpu_s": cpu_medians,
            "all_s": timings,
            "all_cpu_s": cpus,
            "first_uncached_run_s": first_s,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
