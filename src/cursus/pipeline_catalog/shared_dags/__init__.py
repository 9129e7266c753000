"""Shared DAG definitions: one module per DAG shape, `<framework>/<shape>.py`.

Each module defines `create_dag()` and `get_dag_metadata()` (a `DagMetadata`). The standard and
the MODS pipeline of a shape both reference the module; nothing else spells out its nodes.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from cursus.pipeline_catalog.model import CatalogError

__all__ = ["load_shared_dag_module", "shared_dag_ids"]


def shared_dag_ids() -> list[str]:
    """Every shared DAG, as '<framework>.<shape>', sorted."""
    ids = []
    for framework in pkgutil.iter_modules(__path__):
        if not framework.ispkg:
            continue
        package = importlib.import_module(f"{__name__}.{framework.name}")
        ids += [
            f"{framework.name}.{shape.name}"
            for shape in pkgutil.iter_modules(package.__path__)
            if not shape.name.startswith("_")
        ]
    return sorted(ids)


def load_shared_dag_module(dag_id: str) -> ModuleType:
    if dag_id not in shared_dag_ids():
        raise CatalogError(f"no shared DAG '{dag_id}'; shared DAGs: {', '.join(shared_dag_ids())}")
    return importlib.import_module(f"{__name__}.{dag_id}")
