"""XGBoost training with imputation and risk tables: the standard pipeline of the shared DAG `xgboost.training_with_preprocessing`."""

from __future__ import annotations

from cursus.pipeline_catalog.model import CatalogPipeline
from cursus.pipeline_catalog.shared_dags.xgboost import training_with_preprocessing

PIPELINE = CatalogPipeline(
    id="xgboost_training_with_preprocessing",
    title="XGBoost training with imputation and risk tables",
    task="evaluation",
    shared_dag=training_with_preprocessing,
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
