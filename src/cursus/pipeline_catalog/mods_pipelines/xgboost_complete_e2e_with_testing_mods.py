"""XGBoost end to end with testing and a model card, as a MODS template: the shared DAG of `pipelines.xgboost_complete_e2e_with_testing`, registered with this metadata."""

from __future__ import annotations

from cursus.pipeline_catalog.pipelines import xgboost_complete_e2e_with_testing

PIPELINE = xgboost_complete_e2e_with_testing.PIPELINE.mods_variant(
    author="cursus-catalog", version="1.0.0"
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
