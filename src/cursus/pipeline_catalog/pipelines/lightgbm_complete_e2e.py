"""LightGBM complete end to end: the standard pipeline of the shared DAG `lightgbm.complete_e2e`."""

from __future__ import annotations

from cursus.pipeline_catalog.model import CatalogPipeline
from cursus.pipeline_catalog.shared_dags.lightgbm import complete_e2e

PIPELINE = CatalogPipeline(
    id="lightgbm_complete_e2e",
    title="LightGBM complete end to end",
    task="end_to_end",
    shared_dag=complete_e2e,
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
