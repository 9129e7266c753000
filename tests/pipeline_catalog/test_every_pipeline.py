"""Every catalog pipeline runs locally on its sample config, and compiles for SageMaker offline.

The local runs share one workspace: a MODS pipeline's sample config is its standard twin's, so
its run comes whole from the cache, which keeps this module to about a minute.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from cursus.backends.local.runner import RunResult
from cursus.mods.registry import TemplateRegistryReader
from cursus.pipeline_catalog import (
    create_pipeline_from_catalog,
    export_model,
    get_entry,
    run_catalog_pipeline,
    write_sample_config,
)
from cursus.pipeline_catalog.index import pipeline_ids

# standard pipelines first, so each MODS twin finds its steps cached; PyTorch first, so a fresh
# runner process starts its fork server with torch preloaded
IDS = sorted(pipeline_ids(), key=lambda i: (i.endswith("_mods"), not i.startswith("pytorch"), i))
RESULTS: dict[str, RunResult] = {}


@pytest.fixture(scope="module")
def workspace(catalog_workspace: Path) -> Path:
    return catalog_workspace


@pytest.fixture(scope="module")
def trained_model(workspace: Path) -> Path:
    """The model the deployment pipeline packages: xgboost_simple's, exported like
    `cursus catalog run xgboost_simple -c CONFIG --export-model DIR` does."""
    config = write_sample_config("xgboost_simple", workspace / "configs" / "train.json")
    result = run(workspace, "xgboost_simple", config)
    return export_model(result, workspace / "models" / "latest")


def run(workspace: Path, pipeline_id: str, config: Path) -> RunResult:
    result = run_catalog_pipeline(
        pipeline_id, config, workspace=workspace, registry_uri=str(workspace / "registry")
    )
    failed = {n: s.error for n, s in result.steps.items() if not s.ok}
    assert result.ok, f"{pipeline_id}: {failed}"
    return result


@pytest.mark.slow
@pytest.mark.parametrize("pipeline_id", IDS)
def test_runs_locally_on_its_sample_config(
    pipeline_id: str, workspace: Path, request: pytest.FixtureRequest
) -> None:
    entry = get_entry(pipeline_id)
    model = (
        request.getfixturevalue("trained_model") if "existing_model" in entry["features"] else None
    )
    config = write_sample_config(
        pipeline_id, workspace / "configs" / f"{pipeline_id}.json", model_uri=str(model)
    )
    result = run(workspace, pipeline_id, config)
    assert len(result.steps) == entry["node_count"]
    RESULTS[pipeline_id] = result
    twin = RESULTS.get(entry.get("variant_of") or "")
    if twin is not None:  # same DAG, same sample config: nothing runs again
        assert {s.status for s in result.steps.values()} == {"cached"}
        assert {n: s.digests for n, s in result.steps.items()} == {
            n: s.digests for n, s in twin.steps.items()
        }
    if "registration" in entry["features"]:
        record = Path(result.steps["Registration"].outputs["registration_output"])
        lineage = json.loads((record / "registration.json").read_text())["lineage"]
        assert lineage["pipeline_name"] == (entry.get("variant_of") or pipeline_id).replace(
            "_", "-"
        )


@pytest.mark.slow
@pytest.mark.parametrize("pipeline_id", IDS)
def test_compiles_for_sagemaker_offline(
    pipeline_id: str, sample_config: Callable[..., Path], registry_path: Path
) -> None:
    pipeline = create_pipeline_from_catalog(
        pipeline_id, sample_config(pipeline_id), allow_sample_data=True
    )
    entry = get_entry(pipeline_id)
    definition = json.loads(pipeline.definition())
    assert len(definition["Steps"]) >= entry["node_count"]
    assert pipeline.name == (entry.get("variant_of") or pipeline_id).replace("_", "-")
    registered = TemplateRegistryReader(registry_path).list_templates()
    if entry["compiler_type"] == "mods":
        meta = entry["mods_metadata"]
        assert [(t.name, t.version, t.author, t.description) for t in registered] == [
            (meta["template_name"], meta["version"], meta["author"], meta["description"])
        ]
    else:
        assert registered == []
