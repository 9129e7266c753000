"""XGBoost training with evaluation: the standard pipeline of the shared DAG `xgboost.training_with_evaluation`."""

from __future__ import annotations

from cursus.pipeline_catalog.model import CatalogPipeline
from cursus.pipeline_catalog.shared_dags.xgboost import training_with_evaluation

PIPELINE = CatalogPipeline(
    id="xgboost_training_evaluation",
    title="XGBoost training with evaluation",
    task="evaluation",
    shared_dag=training_with_evaluation,
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
