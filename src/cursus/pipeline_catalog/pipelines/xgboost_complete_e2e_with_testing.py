"""XGBoost end to end with testing and a model card: the standard pipeline of the shared DAG `xgboost.complete_e2e_with_testing`."""

from __future__ import annotations

from cursus.pipeline_catalog.model import CatalogPipeline
from cursus.pipeline_catalog.shared_dags.xgboost import complete_e2e_with_testing

PIPELINE = CatalogPipeline(
    id="xgboost_complete_e2e_with_testing",
    title="XGBoost end to end with testing and a model card",
    task="end_to_end",
    shared_dag=complete_e2e_with_testing,
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
