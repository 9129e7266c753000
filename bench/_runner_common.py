"""Shared by the local runner benchmarks: configs, machine facts, result files, step timings."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

# before anything imports numpy or starts the fork server, which keeps the environment it starts with
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from cursus.api.dag import PipelineDAG
from cursus.api.loading import load_dag
from cursus.backends.local.records import RunRecords
from cursus.core.compiler import PipelineDAGCompiler
from cursus.core.config_file import default_configs, save_configs
from cursus.plan import Plan

RESULTS = Path(__file__).resolve().parent / "results"


def write_config(path: Path, dag: PipelineDAG, **edits: dict[str, Any]) -> Path:
    configs = default_configs(dag)
    for node, fields in edits.items():
        for name, value in fields.items():
            setattr(configs[node], name, value)
    return save_configs(configs, path)


def compile_plan(dag: PipelineDAG | str, config: Path) -> Plan:
    graph = load_dag(dag) if isinstance(dag, str) else dag
    return PipelineDAGCompiler(config).compile_to_plan(graph)


def step_spans(workspace: Path, run_id: str) -> dict[str, dict[str, Any]]:
    """Per step: status and the wall seconds the runner spent on it (record started -> ended)."""
    run = RunRecords(workspace / "runs.db").get_run(run_id)
    assert run is not None
    return {
        s["name"]: {
            "status": s["status"],
            "seconds": (s["ended"] - s["started"]) if s["ended"] and s["started"] else None,
            "started": s["started"],
            "ended": s["ended"],
            "hardware": s.get("hardware") or {},
        }
        for s in run["steps"]
    }


def machine() -> dict[str, Any]:
    """What the numbers depend on; the load average says whether other work shared the cores."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_1m_5m_15m": [round(x, 2) for x in os.getloadavg()],
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_results(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in cells
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return (
            f"{value:.1f}"
            if abs(value) >= 100
            else f"{value:.3g}"
            if abs(value) < 1
            else f"{value:.2f}"
        )
    return str(value)


def wait_for_writers(root: Path, timeout: float = 60.0) -> None:
    """The MLflow tracking writer of `cursus run` runs in a session of its own and outlives the
    command (seconds of CPU): wait until no process still names a file under `root`, so that it
    slows no later measurement on this two-core machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = False
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                busy = busy or str(root) in cmdline.read_text(errors="replace")
            except OSError:
                continue
        if not busy:
            return
        time.sleep(0.2)
