"""PyTorch training: load the training data, preprocess it, train a tabular network."""

from __future__ import annotations

from cursus.api.dag import PipelineDAG
from cursus.pipeline_catalog.model import DagMetadata, describe_dag


def create_dag() -> PipelineDAG:
    return PipelineDAG(
        nodes=["DataLoading_training", "TabularPreprocessing_training", "PyTorchTraining"],
        edges=[
            ("DataLoading_training", "TabularPreprocessing_training"),
            ("TabularPreprocessing_training", "PyTorchTraining"),
        ],
        description="PyTorch training: load, preprocess, train a tabular network",
    )


def get_dag_metadata() -> DagMetadata:
    return describe_dag(
        __name__,
        create_dag(),
        framework="pytorch",
        complexity="simple",
        features=("data_loading", "preprocessing", "training"),
    )
