"""What the local runner costs per step over calling the step scripts directly.

The bundled xgboost_e2e pipeline (10 steps, the sample breast_cancer data) is run two ways, each
warm (one untimed warm-up run first, so the runner's fork server has its libraries loaded and the
in-process baseline has them imported):

- runner: LocalRunner with use_cache=False in a fresh workspace, workers=1 (sequential, so the
  difference to the baseline is overhead, not parallelism) and with the default workers;
- baseline: one process that imports each step script with importlib (scripts folder on sys.path)
  and calls its `main` in the Plan's topological order, with the Plan's env and job_args and the
  previous steps' outputs in temp folders.

Both register models in a folder registry, so neither pays MLflow's import. Overhead per step is
(runner wall - baseline wall) / steps, with the median of REPEATS alternating runs. Per step, the
runner's time is its run record's started -> ended (cache key, input checks, fork, the script,
committing outputs to the store, records). On a shared machine the wall time also waits for a
core, so the best run and the CPU seconds (this process + the steps, read from the fork server's
cutime/cstime) are reported too. Writes bench/results/runner_overhead.json.

    .venv/bin/python bench/bench_runner_overhead.py [--repeats N]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _runner_common import compile_plan, load_dag, step_spans, table, write_config, write_results
from cursus.backends.local import LocalRunner
from cursus.plan import Plan
from cursus.steps.library import BUNDLED_LIBRARY as SCRIPTS_DIR

TARGET_MS_PER_STEP = 100.0
SCHEDULER_TARGET_MS = 10.0  # dispatch + cache lookup + recording, per step (issue 18)


def load_script(entry_point: str):
    """A fresh module object for the script, as the runner's step process makes one."""
    path = SCRIPTS_DIR / entry_point
    spec = importlib.util.spec_from_file_location(f"bench_step_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run_in_process(plan: Plan, root: Path, registry: str) -> tuple[float, dict[str, float], float]:
    """Every step's main, one after another in this process: total and per-step wall seconds, and
    the CPU seconds used."""
    if str(SCRIPTS_DIR) not in sys.path:
        sys.path.insert(0, str(SCRIPTS_DIR))
    produced: dict[tuple[str, str], str] = {}
    per_step: dict[str, float] = {}
    runtime = {"run_id": "baseline", "model_registry_uri": registry, "input_digests": "{}"}
    started, cpu = time.perf_counter(), time.process_time()
    for step in plan.steps:
        inputs = {
            name: produced[(src["from_step"], src["output"])] if "from_step" in src else src["uri"]
            for name, src in step.inputs.items()
        }
        outputs = {}
        for name in step.outputs:
            folder = root / step.name / name
            folder.mkdir(parents=True)
            outputs[name] = str(folder)
        environ = {**step.env, **{env: runtime[src] for env, src in step.runtime_env.items()}}
        t0 = time.perf_counter()
        load_script(step.script["entry_point"]).main(inputs, outputs, environ, step.job_args)
        per_step[step.name] = time.perf_counter() - t0
        produced.update({(step.name, name): folder for name, folder in outputs.items()})
    return time.perf_counter() - started, per_step, time.process_time() - cpu


def steps_cpu_seconds() -> float:
    """CPU seconds of every step process the fork server has reaped so far (its cutime + cstime):
    the steps are its children, not this process's."""
    from multiprocessing import forkserver

    pid = forkserver._forkserver._forkserver_pid
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def run_runner(plan: Plan, workspace: Path, registry: str, workers: int | None):
    started, cpu, steps_cpu = time.perf_counter(), time.process_time(), steps_cpu_seconds()
    result = LocalRunner(
        plan, workspace=workspace, workers=workers, use_cache=False, registry_uri=registry
    ).run()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu + steps_cpu_seconds() - steps_cpu
    if not result.ok:
        raise SystemExit(
            f"runner failed: { {n: s.error for n, s in result.steps.items() if not s.ok} }"
        )
    spans = step_spans(workspace, result.run_id)
    overheads = {name: dict(step.overhead) for name, step in result.steps.items()}
    return wall, {name: s["seconds"] for name, s in spans.items()}, cpu, overheads


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        root = Path(tmp)
        dag = load_dag("xgboost_e2e")
        plan = compile_plan(dag, write_config(root / "config.json", dag))
        registry = str(root / "registry")
        n = len(plan.steps)

        t = time.perf_counter()
        run_runner(plan, root / "warm-ws", registry, 1)  # starts the fork server
        cold_runner = time.perf_counter() - t
        t = time.perf_counter()
        run_in_process(plan, root / "warm-base", registry)  # imports the libraries
        cold_baseline = time.perf_counter() - t

        seq, par, base = [], [], []
        for i in range(args.repeats):
            seq.append(run_runner(plan, root / f"ws-seq-{i}", registry, 1))
            base.append(run_in_process(plan, root / f"base-{i}", registry))
            par.append(run_runner(plan, root / f"ws-par-{i}", registry, None))

    def median(values):
        return statistics.median(values)

    def wall_of(runs, pick=median):
        return pick([r[0] for r in runs])

    def cpu_of(runs):
        return median([r[2] for r in runs])

    seq_wall, par_wall, base_wall = wall_of(seq), wall_of(par), wall_of(base)
    seq_best, base_best = wall_of(seq, min), wall_of(base, min)
    overhead_ms = (seq_wall - base_wall) / n * 1000
    overhead_best_ms = (seq_best - base_best) / n * 1000
    overhead_cpu_ms = (cpu_of(seq) - cpu_of(base)) / n * 1000
    rows, per_step = [], {}
    for step in plan.steps:
        b = median([r[1][step.name] for r in base])
        r = median([r[1][step.name] for r in seq])
        per_step[step.name] = {
            "baseline_ms": b * 1000,
            "runner_ms": r * 1000,
            "overhead_ms": (r - b) * 1000,
        }
        rows.append([step.name, b * 1000, r * 1000, (r - b) * 1000])
    print(table(rows, ["step (median)", "in-process ms", "runner ms (workers=1)", "overhead ms"]))
    print()
    print(
        table(
            [
                ["in-process baseline", base_wall, base_best, cpu_of(base), 1.0],
                ["runner, workers=1", seq_wall, seq_best, cpu_of(seq), seq_wall / base_wall],
                [
                    "runner, default workers",
                    par_wall,
                    wall_of(par, min),
                    cpu_of(par),
                    par_wall / base_wall,
                ],
            ],
            [
                "e2e (10 steps), warm",
                "median wall s",
                "best wall s",
                "CPU s",
                "ratio (median wall)",
            ],
        )
    )
    # what the runner itself spends per step, apart from the step process's imports and work
    parts = ("cache_lookup", "dispatch", "record", "commit")
    own = {
        part: median([r[3][name].get(part, 0.0) for r in seq for name in r[3]]) for part in parts
    }
    scheduler = median(
        [sum(v for k, v in r[3][name].items() if k != "commit") for r in seq for name in r[3]]
    )
    print(
        table(
            [[part, own[part]] for part in parts] + [["scheduler (all but commit)", scheduler]],
            ["runner's own part per step (workers=1)", "median ms"],
        )
    )
    sched_verdict = "meets" if scheduler <= SCHEDULER_TARGET_MS else "MISSES"
    print(f"scheduler-attributable: {scheduler:.1f} ms per step ({sched_verdict} the <= "
          f"{SCHEDULER_TARGET_MS:g} ms target)\n")  # fmt: skip
    verdict = "meets" if overhead_ms < TARGET_MS_PER_STEP else "MISSES"
    print(
        f"\noverhead per step, workers=1: {overhead_ms:.1f} ms (median wall; {verdict} the "
        f"< {TARGET_MS_PER_STEP:g} ms target), {overhead_best_ms:.1f} ms (best wall), "
        f"{overhead_cpu_ms:.1f} ms of CPU"
    )
    print(
        f"first (cold) run: runner {cold_runner:.2f} s incl. fork server start; in-process {cold_baseline:.2f} s"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    write_results(
        "runner_overhead",
        {
            "steps": n,
            "repeats": args.repeats,
            "baseline_wall_s": base_wall,
            "runner_workers1_wall_s": seq_wall,
            "runner_default_workers_wall_s": par_wall,
            "ratio_workers1": seq_wall / base_wall,
            "ratio_default_workers": par_wall / base_wall,
            "overhead_ms_per_step": overhead_ms,
            "overhead_ms_per_step_best_wall": overhead_best_ms,
            "overhead_cpu_ms_per_step": overhead_cpu_ms,
            "runner_own_ms_per_step": own,
            "scheduler_ms_per_step": scheduler,
            "scheduler_target_ms": SCHEDULER_TARGET_MS,
            "cpu_s": {
                "baseline": cpu_of(base),
                "runner_workers1": cpu_of(seq),
                "runner_default_workers": cpu_of(par),
            },
            "target_ms_per_step": TARGET_MS_PER_STEP,
            "cold_runner_s": cold_runner,
            "cold_baseline_s": cold_baseline,
            "per_step": per_step,
            "all_runs_wall_s": {
                "baseline": [r[0] for r in base],
                "runner_workers1": [r[0] for r in seq],
                "runner_default_workers": [r[0] for r in par],
            },
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
