"""The e2e pipeline on a million rows: wall time per step and in total, and peak memory.

Both DataLoading nodes of the bundled xgboost_e2e pipeline read
synthetic:classification?rows=1000000&features=20 (training seed 1, calibration seed 2); every other
setting is the default. One run, use_cache=False, in a fresh workspace, after a warm-up run on the
small sample that starts the fork server (so the table shows the steps, not library imports).

Memory: a step runs in a process forked from the runner's fork server, so it is the runner's
grandchild and getrusage(RUSAGE_CHILDREN) of the runner never sees it (the fork server reaps it and
is not itself reaped before the runner exits). So, measured three ways:
- per step, the peak resident set its own process reached (VmHWM from /proc, sampled every 50 ms
  while it runs, the process found by its log file on fd 1), and what the runner recorded from the
  step's own getrusage(RUSAGE_SELF) when that is in the run record;
- the whole run: the largest sum, at one sampling moment (every 0.5 s), of the proportional set
  size (PSS, which splits pages that the fork server shares with its steps) of this process and all
  its descendants;
- the runner itself: getrusage(RUSAGE_SELF).ru_maxrss.
Writes bench/results/million_rows.json.

    .venv/bin/python bench/bench_million_rows.py [--rows N]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

from _runner_common import compile_plan, load_dag, step_spans, table, write_config, write_results
from cursus.backends.local import LocalRunner


def descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        cur = stack.pop()
        for task in Path(f"/proc/{cur}/task").glob("*"):
            try:
                kids = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            stack += kids
    return found


def status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemorySampler(threading.Thread):
    """Polls /proc: per step process its VmHWM, and the run's total PSS at each moment."""

    def __init__(self, interval: float = 0.05, pss_every: int = 10) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.pss_every = pss_every
        self.stop = threading.Event()
        self.step_peak_kb: dict[str, int] = {}
        self.total_pss_peak_kb = 0
        self.server_peak_kb = 0

    def run(self) -> None:
        me = os.getpid()
        tick = 0
        while not self.stop.is_set():
            pids = descendants(me)
            if tick % self.pss_every == 0:  # smaps_rollup walks every mapping: not every tick
                total = pss_kb(me) + sum(pss_kb(pid) for pid in pids)
                self.total_pss_peak_kb = max(self.total_pss_peak_kb, total)
            tick += 1
            for pid in pids:
                step = self._step_of(pid)
                hwm = status_kb(pid, "VmHWM")
                if step:
                    self.step_peak_kb[step] = max(self.step_peak_kb.get(step, 0), hwm)
                elif "forkserver" in self._cmdline(pid):
                    self.server_peak_kb = max(self.server_peak_kb, hwm)
            time.sleep(self.interval)

    @staticmethod
    def _step_of(pid: int) -> str | None:
        try:
            target = os.readlink(f"/proc/{pid}/fd/1")
        except OSError:
            return None
        return Path(target).stem if "/logs/" in target and target.endswith(".log") else None

    @staticmethod
    def _cmdline(pid: int) -> str:
        try:
            return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
        except OSError:
            return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    dag = load_dag("xgboost_e2e")
    with tempfile.TemporaryDirectory(prefix="bench-million-") as tmp:
        root = Path(tmp)
        registry = str(root / "registry")
        small = compile_plan(dag, write_config(root / "small.json", dag))
        LocalRunner(small, workspace=root / "warm", use_cache=False, registry_uri=registry).run()

        source = f"synthetic:classification?rows={args.rows}&features=20"
        plan = compile_plan(
            dag,
            write_config(
                root / "config.json",
                dag,
                DataLoading_training={"data_source": f"{source}&seed=1"},
                DataLoading_calibration={"data_source": f"{source}&seed=2"},
            ),
        )
        sampler = MemorySampler()
        sampler.start()
        started = time.perf_counter()
        result = LocalRunner(
            plan, workspace=root / "ws", use_cache=False, registry_uri=registry
        ).run()
        wall = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
        if not result.ok:
            raise SystemExit(
                f"run failed: { {n: s.error for n, s in result.steps.items() if not s.ok} }"
            )
        spans = step_spans(root / "ws", result.run_id)
        store_mb = (
            sum(p.stat().st_size for p in (root / "ws" / "artifacts").rglob("*") if p.is_file())
            / 2**20
        )

    runner_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rows, per_step = [], {}
    for step in plan.steps:
        span = spans[step.name]
        hw = span["hardware"]
        sampled = sampler.step_peak_kb.get(step.name, 0) / 1024
        per_step[step.name] = {
            "seconds": span["seconds"],
            "peak_rss_mb_sampled": sampled or None,
            "peak_rss_mb_recorded": hw.get("peak_rss_mb"),
            "rss_increase_mb_recorded": hw.get("rss_increase_mb"),
            "metrics": result.steps[step.name].metrics,
        }
        rows.append(
            [
                step.name,
                span["seconds"],
                sampled or "-",
                hw.get("peak_rss_mb", "-"),
                hw.get("rss_increase_mb", "-"),
            ]
        )
    print(
        table(
            rows,
            [
                f"e2e, {args.rows:,} rows",
                "wall s",
                "peak RSS MB (sampled)",
                "peak RSS MB (recorded)",
                "of which new MB",
            ],
        )
    )
    print(
        f"\ntotal wall {wall:.2f} s (sum of steps {sum(s['seconds'] for s in spans.values()):.2f} s)"
    )
    print(
        f"peak PSS of runner + fork server + steps together: {sampler.total_pss_peak_kb / 1024:.0f} MB"
    )
    print(
        f"fork server peak RSS: {sampler.server_peak_kb / 1024:.0f} MB; runner ru_maxrss: {runner_peak_mb:.0f} MB"
    )
    print(
        f"RUSAGE_CHILDREN ru_maxrss: {children_mb:.0f} MB (steps are grandchildren: not counted there)"
    )
    print(f"artifact store after the run: {store_mb:.0f} MB")
    write_results(
        "million_rows",
        {
            "rows": args.rows,
            "total_wall_s": wall,
            "per_step": per_step,
            "peak_total_pss_mb": sampler.total_pss_peak_kb / 1024,
            "fork_server_peak_rss_mb": sampler.server_peak_kb / 1024,
            "runner_ru_maxrss_mb": runner_peak_mb,
            "rusage_children_ru_maxrss_mb": children_mb,
            "artifact_store_mb": store_mb,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
