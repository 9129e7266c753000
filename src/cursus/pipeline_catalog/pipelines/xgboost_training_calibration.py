"""XGBoost training with calibration: the standard pipeline of the shared DAG `xgboost.training_with_calibration`."""

from __future__ import annotations

from cursus.pipeline_catalog.model import CatalogPipeline
from cursus.pipeline_catalog.shared_dags.xgboost import training_with_calibration

PIPELINE = CatalogPipeline(
    id="xgboost_training_calibration",
    title="XGBoost training with calibration",
    task="calibration",
    shared_dag=training_with_calibration,
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
