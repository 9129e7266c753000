"""XGBoost training: the standard pipeline of the shared DAG `xgboost.simple`."""

from __future__ import annotations

from cursus.pipeline_catalog.model import CatalogPipeline
from cursus.pipeline_catalog.shared_dags.xgboost import simple

PIPELINE = CatalogPipeline(
    id="xgboost_simple",
    title="XGBoost training",
    task="training",
    shared_dag=simple,
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
