"""XGBoost end to end with percentile calibration: the standard pipeline of the shared DAG `xgboost.percentile_e2e`."""

from __future__ import annotations

from cursus.pipeline_catalog.model import CatalogPipeline
from cursus.pipeline_catalog.shared_dags.xgboost import percentile_e2e

PIPELINE = CatalogPipeline(
    id="xgboost_percentile_e2e",
    title="XGBoost end to end with percentile calibration",
    task="end_to_end",
    shared_dag=percentile_e2e,
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
