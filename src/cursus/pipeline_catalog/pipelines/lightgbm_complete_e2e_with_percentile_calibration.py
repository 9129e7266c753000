"""LightGBM end to end with percentile calibration and testing: the standard pipeline of the shared DAG `lightgbm.complete_e2e_with_percentile_calibration`."""

from __future__ import annotations

from cursus.pipeline_catalog.model import CatalogPipeline
from cursus.pipeline_catalog.shared_dags.lightgbm import complete_e2e_with_percentile_calibration

PIPELINE = CatalogPipeline(
    id="lightgbm_complete_e2e_with_percentile_calibration",
    title="LightGBM end to end with percentile calibration and testing",
    task="end_to_end",
    shared_dag=complete_e2e_with_percentile_calibration,
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
