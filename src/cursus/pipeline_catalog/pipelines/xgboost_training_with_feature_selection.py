"""XGBoost training with feature selection: the standard pipeline of the shared DAG `xgboost.training_with_feature_selection`."""

from __future__ import annotations

from cursus.pipeline_catalog.model import CatalogPipeline
from cursus.pipeline_catalog.shared_dags.xgboost import training_with_feature_selection

PIPELINE = CatalogPipeline(
    id="xgboost_training_with_feature_selection",
    title="XGBoost training with feature selection",
    task="evaluation",
    shared_dag=training_with_feature_selection,
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
