"""Registry views: read-only, cached until the registry changes, plain about an empty registry."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from cursus.mods.compiler import MODSPipelineDAGCompiler
from cursus.mods.registry import TemplateInfo, TemplateRegistry, TemplateRegistryReader
from cursus.pipeline_catalog import (
    check_registry,
    get_mods_registered_templates,
    get_mods_registry_status,
    get_registry_template_info,
    group_templates_by_author,
    group_templates_by_framework,
    load_shared_dag,
)
from cursus.pipeline_catalog.index import pipeline_ids


def register_from_catalog(pipeline_id: str, config: Path, **metadata: str) -> type:
    """What a MODS compile does first: decorate the template class, which registers it."""
    return MODSPipelineDAGCompiler(config).create_decorated_class(
        load_shared_dag(pipeline_id), **metadata
    )


def info(
    name: str, version: str = "1.0.0", author: str = "ann", framework: str = ""
) -> TemplateInfo:
    return TemplateInfo(
        name=name,
        version=version,
        author=author,
        description="d",
        module="m",
        dag_digest=hashlib.sha256(name.encode()).hexdigest(),
        config_digest="c",
        framework=framework,
    )


def test_an_absent_registry_reads_as_empty_and_says_so(registry_path: Path) -> None:
    assert get_mods_registered_templates() == []
    assert get_registry_template_info("XgboostSimpleTemplate") is None
    assert group_templates_by_author() == {}
    status = get_mods_registry_status()
    assert status["exists"] is False and status["template_count"] == 0
    assert status["registry_path"] == str(registry_path)
    assert status["message"].startswith(f"no template registry at {registry_path} yet")
    report = check_registry()
    assert report["consistent"] is True and report["complete"] is False
    assert report["registered"] == []
    assert report["not_registered"] == sorted(i for i in pipeline_ids() if i.endswith("_mods"))
    assert "xgboost_training_with_preprocessing_mods" in report["not_registered"]
    assert not registry_path.exists(), "reading must never create the registry"


def test_an_empty_registry_says_so(registry_path: Path) -> None:
    TemplateRegistry(registry_path)
    status = get_mods_registry_status()
    assert status["exists"] is True
    assert status["message"] == f"the template registry at {registry_path} holds no templates yet"


def test_templates_registered_by_catalog_compiles_are_seen(
    sample_config: Callable[..., Path], registry_path: Path
) -> None:
    assert get_mods_registered_templates() == []  # cached while the registry is absent
    register_from_catalog("xgboost_simple_mods", sample_config("xgboost_simple_mods"))
    templates = get_mods_registered_templates()
    assert [(t["name"], t["version"], t["author"]) for t in templates] == [
        ("XgboostSimpleTemplate", "1.0.0", "cursus-catalog")
    ]
    found = get_registry_template_info("XgboostSimpleTemplate")
    assert found is not None and found["framework"] == "xgboost"
    report = check_registry()
    assert report["registered"] == ["xgboost_simple_mods"]
    assert report["consistent"] is True and report["complete"] is False
    status = get_mods_registry_status(registry_path)
    assert status["message"] == f"1 template version(s) of 1 template(s) in {registry_path}"
    assert status["authors"] == ["cursus-catalog"] and status["frameworks"] == ["xgboost"]


def test_version_and_dag_mismatches_make_the_registry_inconsistent(
    sample_config: Callable[..., Path], registry_path: Path
) -> None:
    register_from_catalog(
        "pytorch_training_mods", sample_config("pytorch_training_mods"), version="0.9.0"
    )
    # a template of the catalog's name and version, registered from another DAG
    TemplateRegistry(registry_path).register(info("XgboostCompleteE2eTemplate"))
    report = check_registry()
    states = {r["id"]: r for r in report["entries"]}
    assert states["pytorch_training_mods"]["state"] == "version_mismatch"
    assert states["pytorch_training_mods"]["registry_versions"] == ["0.9.0"]
    assert states["xgboost_complete_e2e_mods"]["state"] == "dag_mismatch"
    assert report["mismatched"] == ["pytorch_training_mods", "xgboost_complete_e2e_mods"]
    assert report["consistent"] is False
    only = check_registry(pipeline_ids=["xgboost_simple_mods"])
    assert [r["id"] for r in only["entries"]] == ["xgboost_simple_mods"]
    assert only["consistent"] is True


def test_reads_are_cached_until_the_registry_changes(
    registry_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = TemplateRegistry(registry_path)
    registry.register(info("ATemplate"))
    reads = []
    real = TemplateRegistryReader.list_templates
    monkeypatch.setattr(
        TemplateRegistryReader, "list_templates", lambda self: reads.append(1) or real(self)
    )
    assert len(get_mods_registered_templates()) == 1
    assert len(get_mods_registered_templates()) == 1
    assert get_registry_template_info("ATemplate") is not None
    assert len(reads) == 1
    registry.register(info("BTemplate"))
    stamp = os.stat(registry_path).st_mtime_ns + 1_000_000  # a coarse clock may not have ticked
    os.utime(registry_path, ns=(stamp, stamp))
    assert [t["name"] for t in get_mods_registered_templates()] == ["ATemplate", "BTemplate"]
    assert len(reads) == 2


def test_grouping_by_author_and_framework(registry_path: Path) -> None:
    registry = TemplateRegistry(registry_path)
    registry.register(info("ATemplate", author="ann", framework="xgboost"))
    registry.register(info("ATemplate", version="1.1.0", author="ann", framework="xgboost"))
    registry.register(info("BTemplate", author="bob"))
    by_author = group_templates_by_author()
    assert {a: [(t["name"], t["version"]) for t in ts] for a, ts in by_author.items()} == {
        "ann": [("ATemplate", "1.0.0"), ("ATemplate", "1.1.0")],
        "bob": [("BTemplate", "1.0.0")],
    }
    assert list(group_templates_by_framework()) == ["unknown", "xgboost"]
    latest = get_registry_template_info("ATemplate")
    assert latest is not None and latest["version"] == "1.1.0"
    older = get_registry_template_info("ATemplate", version="1.0.0")
    assert older is not None and older["version"] == "1.0.0"
