"""Model deployment, as a MODS template: the shared DAG of `pipelines.model_deployment`, registered with this metadata."""

from __future__ import annotations

from cursus.pipeline_catalog.pipelines import model_deployment

PIPELINE = model_deployment.PIPELINE.mods_variant(author="cursus-catalog", version="1.0.0")
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
