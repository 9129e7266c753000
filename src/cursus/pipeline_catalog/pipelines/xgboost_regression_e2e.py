"""XGBoost regression end to end: the standard pipeline of the shared DAG `xgboost.regression_e2e`."""

from __future__ import annotations

from cursus.pipeline_catalog.model import CatalogPipeline
from cursus.pipeline_catalog.shared_dags.xgboost import regression_e2e

PIPELINE = CatalogPipeline(
    id="xgboost_regression_e2e",
    title="XGBoost regression end to end",
    task="end_to_end",
    shared_dag=regression_e2e,
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
