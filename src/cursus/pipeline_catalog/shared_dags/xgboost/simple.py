"""XGBoost simple: load the training data, preprocess it, train."""

from __future__ import annotations

from cursus.api.dag import PipelineDAG
from cursus.pipeline_catalog.model import DagMetadata, describe_dag


def create_dag() -> PipelineDAG:
    return PipelineDAG(
        nodes=["DataLoading_training", "TabularPreprocessing_training", "XGBoostTraining"],
        edges=[
            ("DataLoading_training", "TabularPreprocessing_training"),
            ("TabularPreprocessing_training", "XGBoostTraining"),
        ],
        description="XGBoost simple: load, preprocess, train",
    )


def get_dag_metadata() -> DagMetadata:
    return describe_dag(
        __name__,
        create_dag(),
        framework="xgboost",
        complexity="simple",
        features=("data_loading", "preprocessing", "training"),
        bundled_name="xgboost_simple",
    )
