"""XGBoost training with feature selection, as a MODS template: the shared DAG of `pipelines.xgboost_training_with_feature_selection`, registered with this metadata."""

from __future__ import annotations

from cursus.pipeline_catalog.pipelines import xgboost_training_with_feature_selection

PIPELINE = xgboost_training_with_feature_selection.PIPELINE.mods_variant(
    author="cursus-catalog", version="1.0.0"
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
