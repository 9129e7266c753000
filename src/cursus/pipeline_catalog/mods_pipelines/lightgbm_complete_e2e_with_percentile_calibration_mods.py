"""LightGBM end to end with percentile calibration and testing, as a MODS template: the shared DAG of `pipelines.lightgbm_complete_e2e_with_percentile_calibration`, registered with this metadata."""

from __future__ import annotations

from cursus.pipeline_catalog.pipelines import lightgbm_complete_e2e_with_percentile_calibration

PIPELINE = lightgbm_complete_e2e_with_percentile_calibration.PIPELINE.mods_variant(
    author="cursus-catalog", version="1.0.0"
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
