"""Model deployment: the standard pipeline of the shared DAG `generic.deployment`."""

from __future__ import annotations

from cursus.pipeline_catalog.model import CatalogPipeline
from cursus.pipeline_catalog.shared_dags.generic import deployment

PIPELINE = CatalogPipeline(
    id="model_deployment",
    title="Model deployment",
    task="deployment",
    shared_dag=deployment,
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
