"""The pipeline catalog: ready pipelines built from shared DAG definitions.

Each DAG shape is defined once (`shared_dags/<framework>/<shape>.py`); a standard pipeline
(`pipelines/`) and a MODS pipeline (`mods_pipelines/`) reference it. `index.json` lists them all
(with a JSON Schema and a validator), and the functions below find, build, run and recommend
pipelines and read the MODS template registry. Importing this package is cheap: compilers, the
runner and the SageMaker SDK are imported only by the functions that use them.
"""

from cursus.pipeline_catalog.index import check_index, get_entry, get_pipeline, task_view
from cursus.pipeline_catalog.model import CatalogError, CatalogPipeline, DagMetadata, ModsMetadata
from cursus.pipeline_catalog.registry_views import (
    check_registry,
    get_mods_registered_templates,
    get_mods_registry_status,
    get_registry_template_info,
    group_templates_by_author,
    group_templates_by_framework,
)
from cursus.pipeline_catalog.utils import (
    Recommendation,
    create_pipeline_from_catalog,
    export_model,
    get_mods_pipelines,
    get_standard_pipelines,
    list_pipelines_by_compiler_type,
    load_shared_dag,
    recommend_pipelines,
    run_catalog_pipeline,
    write_sample_config,
)

__all__ = [
    "CatalogError",
    "CatalogPipeline",
    "DagMetadata",
    "ModsMetadata",
    "Recommendation",
    "check_index",
    "check_registry",
    "create_pipeline_from_catalog",
    "export_model",
    "get_entry",
    "get_mods_pipelines",
    "get_mods_registered_templates",
    "get_mods_registry_status",
    "get_pipeline",
    "get_registry_template_info",
    "get_standard_pipelines",
    "group_templates_by_author",
    "group_templates_by_framework",
    "list_pipelines_by_compiler_type",
    "load_shared_dag",
    "recommend_pipelines",
    "run_catalog_pipeline",
    "task_view",
    "write_sample_config",
]
