"""XGBoost training with stratified sampling, as a MODS template: the shared DAG of `pipelines.xgboost_training_with_stratified`, registered with this metadata."""

from __future__ import annotations

from cursus.pipeline_catalog.pipelines import xgboost_training_with_stratified

PIPELINE = xgboost_training_with_stratified.PIPELINE.mods_variant(
    author="cursus-catalog", version="1.0.0"
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
