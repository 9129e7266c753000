"""The catalog index: index.json, written from the pipeline modules, read without importing them.

The code is the source of truth: `build_index()` walks pipelines/ and mods_pipelines/ and the
shared DAGs they reference. index.json is that, written down (`cursus catalog index --write`), so
listing the catalog reads one small file and imports nothing heavy. `check_index()` validates the
file against index.schema.json and then against the code, naming every disagreement.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from functools import cache
from pathlib import Path
from typing import Any

from cursus.pipeline_catalog._json import dumps
from cursus.pipeline_catalog.model import (
    COMPILER_TYPES,
    CatalogError,
    CatalogPipeline,
    step_features,
)

HERE = Path(__file__).resolve().parent
INDEX_PATH = HERE / "index.json"
SCHEMA_PATH = HERE / "index.schema.json"
PIPELINE_PACKAGES = {"standard": "pipelines", "mods": "mods_pipelines"}
# task views: every pipeline whose steps do the task, whatever its primary task
VIEWS = ("training", "evaluation", "calibration", "registration")


# ---------------------------------------------------------------- from the code


def catalog_pipelines() -> list[CatalogPipeline]:
    """Every pipeline module's PIPELINE, sorted by id (imports the modules)."""
    found = []
    for compiler_type, package_name in PIPELINE_PACKAGES.items():
        package = importlib.import_module(f"{__package__}.{package_name}")
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            pipeline = getattr(module, "PIPELINE", None)
            if not isinstance(pipeline, CatalogPipeline):
                raise CatalogError(f"{module.__name__}: define PIPELINE = CatalogPipeline(...)")
            if pipeline.id != info.name or pipeline.compiler_type != compiler_type:
                raise CatalogError(
                    f"{module.__name__}: PIPELINE is '{pipeline.id}' ({pipeline.compiler_type}); "
                    f"a module in {package_name}/ is named after its id and is {compiler_type}"
                )
            found.append(pipeline)
    return sorted(found, key=lambda p: p.id)


def index_entry(pipeline: CatalogPipeline) -> dict[str, Any]:
    meta = pipeline.dag_metadata()
    entry: dict[str, Any] = {
        "id": pipeline.id,
        "title": pipeline.title,
        "description": pipeline.description,
        "framework": meta.framework,
        "task": pipeline.task,
        "complexity": meta.complexity,
        "features": list(meta.features),
        "node_count": meta.node_count,
        "edge_count": meta.edge_count,
        "compiler_type": pipeline.compiler_type,
        "shared_dag": pipeline.shared_dag_id,
        "module": f"{__package__}.{PIPELINE_PACKAGES[pipeline.compiler_type]}.{pipeline.id}",
    }
    mods = pipeline.mods_metadata()
    if mods is not None:
        entry["variant_of"] = pipeline.variant_of
        entry["mods_metadata"] = mods.as_dict()
    return entry


def build_index() -> dict[str, Any]:
    """The index as the code defines it."""
    pipelines = catalog_pipelines()
    shared = {}
    for pipeline in pipelines:
        meta = pipeline.dag_metadata().as_dict()
        shared[meta.pop("id")] = meta
    views: dict[str, dict[str, list[str]]] = {}
    for view in VIEWS:
        views[view] = {kind: [] for kind in COMPILER_TYPES}
        for pipeline in pipelines:
            if view in step_features(pipeline.create_dag()):
                views[view][pipeline.compiler_type].append(pipeline.id)
    return {
        "$schema": "./index.schema.json",
        "generated_by": "cursus catalog index --write",
        "shared_dags": dict(sorted(shared.items())),
        "pipelines": [index_entry(p) for p in pipelines],
        "views": views,
    }


def write_index(path: Path = INDEX_PATH) -> Path:
    path.write_text(dumps(build_index()))
    load_index.cache_clear()
    return path


# ---------------------------------------------------------------- from the file


@cache
def load_index(path: Path = INDEX_PATH) -> dict[str, Any]:
    """index.json as written (read once per process): no pipeline module is imported."""
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise CatalogError(
            f"{path}: the catalog index is missing; run `cursus catalog index --write`"
        ) from None
    except json.JSONDecodeError as exc:
        raise CatalogError(
            f"{path}: not valid JSON (line {exc.lineno}: {exc.msg}); run `cursus catalog index --write`"
        ) from None
    return data


def entries(compiler_type: str | None = None, framework: str | None = None) -> list[dict[str, Any]]:
    """Index entries, optionally of one compiler type and one framework."""
    if compiler_type is not None and compiler_type not in COMPILER_TYPES:
        raise CatalogError(
            f"unknown compiler type '{compiler_type}'; use one of: {', '.join(COMPILER_TYPES)}"
        )
    return [
        e
        for e in load_index()["pipelines"]
        if (compiler_type is None or e["compiler_type"] == compiler_type)
        and (framework is None or e["framework"] == framework)
    ]


def pipeline_ids() -> list[str]:
    return [e["id"] for e in load_index()["pipelines"]]


def get_entry(pipeline_id: str, compiler_type: str | None = None) -> dict[str, Any]:
    """The index entry of `pipeline_id`; an unknown id (or one of another compiler type) is a
    CatalogError listing the ids there are."""
    for entry in load_index()["pipelines"]:
        if entry["id"] == pipeline_id:
            if compiler_type is not None and entry["compiler_type"] != compiler_type:
                others = [e["id"] for e in entries(compiler_type)]
                raise CatalogError(
                    f"catalog pipeline '{pipeline_id}' is {entry['compiler_type']}, not "
                    f"{compiler_type}; {compiler_type} pipelines: {', '.join(others)}"
                )
            return entry
    raise CatalogError(
        f"no catalog pipeline '{pipeline_id}'; {_hint(pipeline_id)}catalog ids: "
        f"{', '.join(pipeline_ids())} (`cursus catalog list`)"
    )


def _hint(pipeline_id: str) -> str:
    """A bundled DAG's name points at the pipeline of its shared DAG; else the closest id."""
    import difflib

    for dag_id, meta in load_index()["shared_dags"].items():
        if meta.get("bundled_name") == pipeline_id:
            ids = [e["id"] for e in entries() if e["shared_dag"] == dag_id]
            return f"'{pipeline_id}' is a bundled DAG; its catalog pipelines are {', '.join(ids)}. "
    close = difflib.get_close_matches(pipeline_id, pipeline_ids(), n=1)
    return f"did you mean '{close[0]}'? " if close else ""


def get_pipeline(pipeline_id: str) -> CatalogPipeline:
    """The CatalogPipeline of an index entry (imports its module)."""
    entry = get_entry(pipeline_id)
    module = importlib.import_module(entry["module"])
    pipeline: CatalogPipeline = module.PIPELINE
    return pipeline


def task_view(view: str, compiler_type: str | None = None) -> list[str]:
    """The ids in a task view ('training', 'evaluation', 'calibration', 'registration')."""
    views = load_index()["views"]
    if view not in views:
        raise CatalogError(f"no task view '{view}'; views: {', '.join(views)}")
    kinds = [compiler_type] if compiler_type else list(COMPILER_TYPES)
    return [pid for kind in kinds for pid in views[view].get(kind, [])]


# ---------------------------------------------------------------- checking


def check_index(data: Any = None) -> list[str]:
    """Every problem of the index (index.json when `data` is None): first its shape against
    index.schema.json, then whether it says what the code says. Empty when all agree."""
    if data is None:
        data = load_index()
    problems = schema_problems(data)
    if problems:
        return problems
    return code_problems(data)


def schema_problems(data: Any) -> list[str]:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"index field '{_where(err.absolute_path)}': {err.message}"
        for err in sorted(
            validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))
        )
    ]


def _where(path: Any) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


FIX = "; run `cursus catalog index --write`"


def code_problems(data: dict[str, Any]) -> list[str]:
    """Cross checks of a schema-valid index against the code."""
    expected = build_index()
    problems = _pipeline_problems(data, expected) + _shared_dag_problems(data, expected)
    if data["views"] != expected["views"]:
        problems.append(f"index task views differ from the pipelines' steps{FIX}")
    return problems + _shape_coverage(expected)


def _pipeline_problems(data: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    listed = [e["id"] for e in data["pipelines"]]
    twice = sorted({i for i in listed if listed.count(i) > 1})
    problems = [f"index lists '{i}' more than once" for i in twice]
    by_id = {e["id"]: e for e in data["pipelines"]}
    want = {e["id"]: e for e in expected["pipelines"]}
    for pid, entry in by_id.items():
        if pid not in want:
            problems.append(f"index lists '{pid}', which no pipeline module defines{FIX}")
        else:
            problems += _field_problems(f"pipeline '{pid}'", entry, want[pid])
        if entry["shared_dag"] not in data["shared_dags"]:
            problems.append(
                f"pipeline '{pid}' names shared DAG '{entry['shared_dag']}', which the index "
                "does not list"
            )
    return problems + [
        f"pipeline '{pid}' ({entry['module']}) is not in the index{FIX}"
        for pid, entry in want.items()
        if pid not in by_id
    ]


def _shared_dag_problems(data: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    problems = []
    for dag_id, meta in data["shared_dags"].items():
        if dag_id not in expected["shared_dags"]:
            problems.append(f"index shared DAG '{dag_id}' is not a shared DAG module{FIX}")
        else:
            want = expected["shared_dags"][dag_id]
            problems += _field_problems(f"shared DAG '{dag_id}'", meta, want)
    return problems + [
        f"shared DAG '{d}' is not in the index{FIX}"
        for d in expected["shared_dags"]
        if d not in data["shared_dags"]
    ]


def _field_problems(what: str, got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    problems = []
    for key in sorted(set(got) | set(want)):
        if got.get(key) != want.get(key):
            problems.append(
                f"{what}: index says {key}={json.dumps(got.get(key))}, the code says "
                f"{json.dumps(want.get(key))}{FIX}"
            )
    return problems


def _shape_coverage(index: dict[str, Any]) -> list[str]:
    """Every shared DAG has a standard pipeline and a MODS pipeline; a MODS pipeline's
    standard counterpart exists and shares its DAG."""
    problems = []
    by_id = {e["id"]: e for e in index["pipelines"]}
    for dag_id in index["shared_dags"]:
        kinds = {e["compiler_type"] for e in index["pipelines"] if e["shared_dag"] == dag_id}
        for kind in COMPILER_TYPES:
            if kind not in kinds:
                problems.append(
                    f"shared DAG '{dag_id}' has no {kind} pipeline; add a module in {PIPELINE_PACKAGES[kind]}/"
                )
    for entry in index["pipelines"]:
        base = by_id.get(entry.get("variant_of") or "")
        if entry["compiler_type"] == "mods" and (
            base is None or base["shared_dag"] != entry["shared_dag"]
        ):
            problems.append(
                f"MODS pipeline '{entry['id']}' is a variant of '{entry.get('variant_of')}', which is not a standard pipeline of the same shared DAG"
            )
    return problems
