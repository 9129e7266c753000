"""XGBoost end to end with percentile calibration, as a MODS template: the shared DAG of `pipelines.xgboost_percentile_e2e`, registered with this metadata."""

from __future__ import annotations

from cursus.pipeline_catalog.pipelines import xgboost_percentile_e2e

PIPELINE = xgboost_percentile_e2e.PIPELINE.mods_variant(author="cursus-catalog", version="1.0.0")
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
