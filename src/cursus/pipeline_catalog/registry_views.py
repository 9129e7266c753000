"""Read-only views of the MODS template registry, next to the catalog's MODS pipelines.

The registry (SQLite; $CURSUS_TEMPLATE_REGISTRY, else `<workspace>/templates.db`) is written only
when a MODS pipeline is compiled; these functions never write it. Reads are cached per registry
file and refreshed when `TemplateRegistryReader.mtime()` changes. A registry that does not exist
yet, or holds nothing, reads as empty, and the status says which it is.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from cursus.mods.registry import TemplateInfo, TemplateRegistryReader
from cursus.pipeline_catalog.index import entries, get_entry
from cursus.pipeline_catalog.model import CatalogError

_CACHE: dict[Path, tuple[float, tuple[TemplateInfo, ...]]] = {}


def _reader(registry_path: str | Path | None) -> TemplateRegistryReader:
    return TemplateRegistryReader(registry_path)


def _templates(reader: TemplateRegistryReader) -> tuple[TemplateInfo, ...]:
    """Every registered template, read again only when the registry file changed."""
    key = reader.path.resolve()
    stamp = reader.mtime()
    cached = _CACHE.get(key)
    if cached is None or cached[0] != stamp:
        cached = (stamp, tuple(reader.list_templates()))
        _CACHE[key] = cached
    return cached[1]


def get_mods_registered_templates(registry_path: str | Path | None = None) -> list[dict[str, Any]]:
    """Every template version in the registry, oldest registration first per name."""
    return [t.as_dict() for t in _templates(_reader(registry_path))]


def get_registry_template_info(
    name: str, version: str | None = None, registry_path: str | Path | None = None
) -> dict[str, Any] | None:
    """One template (its latest version unless `version` is given), or None if not registered."""
    matches = [
        t
        for t in _templates(_reader(registry_path))
        if t.name == name and (version is None or t.version == version)
    ]
    if not matches:
        return None
    return max(matches, key=lambda t: t.registered_at).as_dict()


def group_templates_by_author(
    registry_path: str | Path | None = None,
) -> dict[str, list[dict[str, Any]]]:
    return _group("author", registry_path)


def group_templates_by_framework(
    registry_path: str | Path | None = None,
) -> dict[str, list[dict[str, Any]]]:
    return _group("framework", registry_path)


def _group(field: str, registry_path: str | Path | None) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for template in get_mods_registered_templates(registry_path):
        groups.setdefault(template[field] or "unknown", []).append(template)
    return dict(sorted(groups.items()))


def get_mods_registry_status(registry_path: str | Path | None = None) -> dict[str, Any]:
    """Where the registry is, whether it exists, what it holds, and a sentence saying so."""
    reader = _reader(registry_path)
    templates = _templates(reader)
    names = sorted({t.name for t in templates})
    if not reader.exists:
        message = (
            f"no template registry at {reader.path} yet; compiling a MODS pipeline creates it "
            "(`cursus catalog compile ID -c CONFIG --target sagemaker` with a *_mods id)"
        )
    elif not templates:
        message = f"the template registry at {reader.path} holds no templates yet"
    else:
        message = (
            f"{len(templates)} template version(s) of {len(names)} template(s) in {reader.path}"
        )
    return {
        "registry_path": str(reader.path),
        "exists": reader.exists,
        "template_count": len(templates),
        "template_names": names,
        "authors": sorted({t.author for t in templates}),
        "frameworks": sorted({t.framework or "unknown" for t in templates}),
        "last_registered_at": max((t.registered_at for t in templates), default=None),
        "decorator": "mods" if importlib.util.find_spec("mods") else "cursus",
        "message": message,
    }


def check_registry(
    registry_path: str | Path | None = None, pipeline_ids: list[str] | tuple[str, ...] = ()
) -> dict[str, Any]:
    """Compare the catalog's MODS pipelines (all, or `pipeline_ids`) with the registry.

    Each MODS entry is `registered` (its template at the catalog's version, with the catalog's
    DAG), `not_registered`, a `version_mismatch` (the template is there, but not at the catalog's
    version) or a `dag_mismatch` (that version was registered with another DAG). `consistent` is
    False when any entry mismatches; `complete` is False when any is not registered.
    """

    from cursus.pipeline_catalog.utils import load_shared_dag

    wanted = [get_entry(pid, compiler_type="mods") for pid in pipeline_ids] or entries("mods")
    reader = _reader(registry_path)
    templates = _templates(reader)
    rows = []
    for entry in wanted:
        meta = entry["mods_metadata"]
        versions = {t.version: t for t in templates if t.name == meta["template_name"]}
        digest = load_shared_dag(entry["shared_dag"]).digest
        if not versions:
            state = "not_registered"
        elif meta["version"] not in versions:
            state = "version_mismatch"
        elif versions[meta["version"]].dag_digest != digest:
            state = "dag_mismatch"
        else:
            state = "registered"
        rows.append(
            {
                "id": entry["id"],
                "template_name": meta["template_name"],
                "catalog_version": meta["version"],
                "registry_versions": sorted(versions),
                "state": state,
            }
        )
    mismatched = [r for r in rows if r["state"] in ("version_mismatch", "dag_mismatch")]
    return {
        "registry_path": str(reader.path),
        "exists": reader.exists,
        "entries": rows,
        "registered": [r["id"] for r in rows if r["state"] == "registered"],
        "not_registered": [r["id"] for r in rows if r["state"] == "not_registered"],
        "mismatched": [r["id"] for r in mismatched],
        "consistent": not mismatched,
        "complete": all(r["state"] == "registered" for r in rows),
    }


def require_template(name: str, registry_path: str | Path | None = None) -> dict[str, Any]:
    """Like get_registry_template_info, but an unknown name is a CatalogError listing the names."""
    info = get_registry_template_info(name, registry_path=registry_path)
    if info is None:
        names = sorted({t["name"] for t in get_mods_registered_templates(registry_path)})
        raise CatalogError(
            f"no template '{name}' in the registry; registered: {', '.join(names) or 'none yet'}"
        )
    return info
