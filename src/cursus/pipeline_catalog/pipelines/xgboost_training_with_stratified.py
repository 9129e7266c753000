"""XGBoost training with stratified sampling: the standard pipeline of the shared DAG `xgboost.training_with_stratified`."""

from __future__ import annotations

from cursus.pipeline_catalog.model import CatalogPipeline
from cursus.pipeline_catalog.shared_dags.xgboost import training_with_stratified

PIPELINE = CatalogPipeline(
    id="xgboost_training_with_stratified",
    title="XGBoost training with stratified sampling",
    task="evaluation",
    shared_dag=training_with_stratified,
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
