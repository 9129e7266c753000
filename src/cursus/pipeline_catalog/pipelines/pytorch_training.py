"""PyTorch training: the standard pipeline of the shared DAG `pytorch.training`."""

from __future__ import annotations

from cursus.pipeline_catalog.model import CatalogPipeline
from cursus.pipeline_catalog.shared_dags.pytorch import training

PIPELINE = CatalogPipeline(
    id="pytorch_training",
    title="PyTorch training",
    task="training",
    shared_dag=training,
)
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
