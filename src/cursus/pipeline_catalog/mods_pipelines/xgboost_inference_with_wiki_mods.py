"""XGBoost pretrained model: inference, metrics, calibration, model card, as a MODS template: the shared DAG of `pipelines.xgboost_inference_with_wiki`, registered with this metadata."""

from __future__ import annotations

from cursus.pipeline_catalog.pipelines import xgboost_inference_with_wiki

PIPELINE = xgboost_inference_with_wiki.PIPELINE.mods_variant(
    author="cursus-catalog", version="1.0.0"
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
