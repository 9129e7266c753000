"""Helpers for the local runner tests: configs written the way a user writes them, and readers for
what a run leaves behind (records, artifacts, processes)."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cursus.api.dag import PipelineDAG
from cursus.api.loading import load_dag
from cursus.backends.local import RunResult
from cursus.backends.local.records import RunRecords
from cursus.backends.local.store import ArtifactStore
from cursus.core.compiler import PipelineDAGCompiler
from cursus.core.config_file import default_configs, save_configs
from cursus.plan import Plan

CURSUS = str(Path(sys.executable).with_name("cursus"))
SMALL_SOURCE = "sklearn:breast_cancer"


def write_dag(path: Path, nodes: list[str], edges: list[tuple[str, str]]) -> Path:
    path.write_text(json.dumps({"dag": {"nodes": nodes, "edges": [list(e) for e in edges]}}))
    return path


def write_config(path: Path, dag: str | Path | PipelineDAG, **edits: dict[str, Any]) -> Path:
    """Default configs for every node of `dag`, with `edits` (node -> {field: value}) applied."""
    graph = dag if isinstance(dag, PipelineDAG) else load_dag(dag)
    configs = default_configs(graph)
    for node, fields in edits.items():
        for name, value in fields.items():
            setattr(configs[node], name, value)
    return save_configs(configs, path)


def compile_plan(dag: str | Path, config: Path) -> Plan:
    return PipelineDAGCompiler(config).compile_to_plan(load_dag(dag))


def statuses(result: RunResult) -> dict[str, str]:
    return {name: step.status for name, step in result.steps.items()}


def run_record(workspace: Path, run_id: str) -> dict[str, Any]:
    run = RunRecords(workspace / "runs.db").get_run(run_id)
    assert run is not None, f"no record of run {run_id}"
    return run


def stored_digests(workspace: Path) -> list[str]:
    objects = workspace / "artifacts" / "objects"
    return sorted(p.name for p in objects.iterdir() if p.is_dir() and not p.name.startswith("."))


def assert_store_verifies(workspace: Path) -> list[str]:
    """Every stored object re-hashes to its digest (a full re-hash, not the size/mtime check)."""
    store = ArtifactStore(workspace / "artifacts")
    digests = stored_digests(workspace)
    assert digests, "the store is empty"
    bad = [d for d in digests if not store.verify(d, full=True)]
    assert not bad, f"objects whose content no longer matches their digest: {bad}"
    return digests


def recorded_digests(workspace: Path) -> set[str]:
    """Every output digest any step of any recorded run claims."""
    records = RunRecords(workspace / "runs.db")
    found: set[str] = set()
    for run in records.list_runs(limit=1000):
        for step in run_record(workspace, run["run_id"])["steps"]:
            found.update(step["outputs"].values())
    return found


@dataclass(frozen=True)
class SeedRun:
    """A finished e2e run: its config, plan, workspace and result; tests copy it, never change it."""

    config: Path
    plan: Plan
    workspace: Path
    registry: str
    result: RunResult

    def copy_workspace(self, dest: Path) -> Path:
        shutil.copytree(self.workspace, dest, symlinks=True)
        return dest


# ---------------------------------------------------------------- processes


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):  # the task ended meanwhile
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    stack = children(pid)
    while stack:
        cur = stack.pop()
        out.append(cur)
        stack += children(cur)
    return out


def is_running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (an exited process nobody has reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
