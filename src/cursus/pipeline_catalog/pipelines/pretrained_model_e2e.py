"""Pretrained model: package, payloads, register: the standard pipeline of the shared DAG `generic.pretrained_e2e`."""

from __future__ import annotations

from cursus.pipeline_catalog.model import CatalogPipeline
from cursus.pipeline_catalog.shared_dags.generic import pretrained_e2e

PIPELINE = CatalogPipeline(
    id="pretrained_model_e2e",
    title="Pretrained model: package, payloads, register",
    task="deployment",
    shared_dag=pretrained_e2e,
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
