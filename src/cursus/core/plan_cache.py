"""Compiled plans, kept per workspace, so re-running an unchanged pipeline skips compiling it.

`cursus run` compiles the DAG and config into a Plan on every call; that needs the config classes
(pydantic) and the step library (every spec read and checked): most of a cached re-run's time in
a fresh process. Here a compiled Plan is saved under `<workspace>/plans/<key>.json`, where the key
covers everything compiling reads:

- the DAG (its digest) and the config file (its bytes and where it is: relative paths in it are
  read from the working folder, which is in the key too);
- every file of every step-unit folder on the search path (path, size, mtime): a spec, a config
  class or a script edited since is a new key;
- the `CURSUS_*` environment variables, this Cursus' version and the plan format;
- the size and mtime of local data files the config names, since compiling checks them.

Only what is certainly known is cached: with a step-unit distribution installed (entry points) or
an execution document, the plan is compiled as before. A plan file that does not load is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cursus import __version__
from cursus.api.dag import PipelineDAG
from cursus.plan import PLAN_FORMAT, Plan

BUNDLED_LIBRARY = Path(__file__).resolve().parents[1] / "steps" / "library"
ENTRY_POINT_GROUP = "cursus.steps"
FOLDER = "plans"
KEPT = 50  # plans kept per workspace: the oldest go first
ENTRY_POINTS_MEMO = "entry-points.memo"


def compiled_plan(
    dag: PipelineDAG,
    config: str | Path,
    workspace: str | Path | None,
    before_compiling: Callable[[], object] | None = None,
) -> Plan:
    """The Plan of `dag` and `config`: the one compiled before when nothing it reads changed,
    else compiled now (and kept), `before_compiling` called first."""
    from cursus.workspace import resolve_workspace

    folder = resolve_workspace(workspace) / FOLDER
    key = plan_key(dag, config, folder)
    if key is not None:
        found = _load(folder / f"{key}.json")
        if found is not None:
            return found
    if before_compiling is not None:
        before_compiling()
    from cursus.core.planner import compile_plan

    plan = compile_plan(dag, config)
    if key is not None:
        _keep(plan, folder, key)
    return plan


def plan_key(dag: PipelineDAG, config: str | Path, folder: Path | None = None) -> str | None:
    """The key of what compiling `dag` with `config` reads; None when it cannot be known.
    `folder` (the workspace's plans) keeps what the installed distributions were found to be."""
    if _has_entry_points(folder):
        return None
    try:
        config_bytes = Path(config).read_bytes()
    except OSError:
        return None  # compiling says what is wrong with the file
    material: dict[str, Any] = {
        "cursus": __version__,
        "format": PLAN_FORMAT,
        "dag": dag.digest,
        "config": hashlib.sha256(config_bytes).hexdigest(),
        "config_path": str(Path(config).resolve()),
        "cwd": os.getcwd(),
        "env": {k: v for k, v in sorted(os.environ.items()) if k.startswith("CURSUS_")},
        "units": [_folder_state(f) for f in _unit_folders()],
        "data": _data_files(config_bytes),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _has_entry_points(folder: Path | None) -> bool:
    """Whether an installed distribution brings step units. Scanning every distribution's
    metadata costs ~35 ms, so the answer is kept per state of the site folders (installing or
    removing a distribution changes its folder's mtime)."""
    import sys

    sites = sorted({p for p in sys.path if p.endswith("-packages") and os.path.isdir(p)})
    stamp = hashlib.sha256(
        json.dumps([[p, os.stat(p).st_mtime_ns] for p in sites]).encode()
    ).hexdigest()
    memo = folder / ENTRY_POINTS_MEMO if folder is not None else None
    try:
        known = json.loads(memo.read_text()) if memo is not None else {}
        if known.get("stamp") == stamp:
            return bool(known["found"])
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    import importlib.metadata

    found = bool(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    if memo is not None:
        try:
            memo.parent.mkdir(parents=True, exist_ok=True)
            partial = memo.with_name(f"{memo.name}.{os.getpid()}")
            partial.write_text(json.dumps({"stamp": stamp, "found": found}))
            os.replace(partial, memo)
        except OSError:
            pass
    return found


def _unit_folders() -> list[Path]:
    """The bundled library, $CURSUS_STEPS_PATH's folders and those added in this process."""
    import sys

    folders = [BUNDLED_LIBRARY]
    folders += [Path(p).expanduser().resolve() for p in os.environ.get("CURSUS_STEPS_PATH", "").split(os.pathsep) if p]  # fmt: skip
    library = sys.modules.get("cursus.steps.library")
    if library is not None:  # --steps DIR, or steps/ beside a DAG file
        folders += list(library.search_path())
    return list(dict.fromkeys(folders))


def _folder_state(folder: Path) -> list[Any]:
    """Every file under `folder` (caches aside) as (path, size, mtime_ns)."""
    state: list[Any] = [str(folder)]
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name in ("__pycache__", ".pytest_cache") or entry.name.endswith(".pyc"):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.is_file():
                info = entry.stat()
                state.append([entry.path, info.st_size, info.st_mtime_ns])
    return state


def _data_files(config_bytes: bytes) -> list[Any]:
    """(path, size, mtime_ns) of each local file or folder a `data_source` names."""
    try:
        data = json.loads(config_bytes)
    except (ValueError, RecursionError):  # compiling says what is wrong with the file
        return []
    found, stack = [], [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "data_source" and isinstance(value, str) and "://" not in value:
                    path = Path(value.split("?", 1)[0]).expanduser()
                    if path.exists():
                        info = path.stat()
                        found.append([str(path.resolve()), info.st_size, info.st_mtime_ns])
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return sorted(found)


def _load(path: Path) -> Plan | None:
    if not path.is_file():
        return None
    try:
        plan = Plan.from_dict(json.loads(path.read_text(encoding="utf-8")), str(path))
    except Exception:  # a damaged or foreign file: compile again
        return None
    os.utime(path)  # most recently used
    return plan


def _keep(plan: Plan, folder: Path, key: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{key}.{os.getpid()}.partial"
    plan.save(partial)
    os.replace(partial, folder / f"{key}.json")
    kept = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    for old in kept[:-KEPT]:
        old.unlink(missing_ok=True)
