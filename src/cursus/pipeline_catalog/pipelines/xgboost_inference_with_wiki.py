"""XGBoost pretrained model: inference, metrics, calibration, model card: the standard pipeline of the shared DAG `xgboost.inference_with_wiki`."""

from __future__ import annotations

from cursus.pipeline_catalog.model import CatalogPipeline
from cursus.pipeline_catalog.shared_dags.xgboost import inference_with_wiki

PIPELINE = CatalogPipeline(
    id="xgboost_inference_with_wiki",
    title="XGBoost pretrained model: inference, metrics, calibration, model card",
    task="evaluation",
    shared_dag=inference_with_wiki,
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
