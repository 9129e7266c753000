"""PyTorch standard end to end: the standard pipeline of the shared DAG `pytorch.standard_e2e`."""

from __future__ import annotations

from cursus.pipeline_catalog.model import CatalogPipeline
from cursus.pipeline_catalog.shared_dags.pytorch import standard_e2e

PIPELINE = CatalogPipeline(
    id="pytorch_standard_e2e",
    title="PyTorch standard end to end",
    task="end_to_end",
    shared_dag=standard_e2e,
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
