"""XGBoost training with evaluation: train on one dataset, evaluate on a disjoint holdout."""

from __future__ import annotations

from cursus.api.dag import PipelineDAG
from cursus.pipeline_catalog.model import DagMetadata, describe_dag


def create_dag() -> PipelineDAG:
    return PipelineDAG(
        nodes=[
            "DataLoading_training",
            "TabularPreprocessing_training",
            "XGBoostTraining",
            "DataLoading_evaluation",
            "TabularPreprocessing_evaluation",
            "XGBoostModelEval_evaluation",
        ],
        edges=[
            ("DataLoading_training", "TabularPreprocessing_training"),
            ("TabularPreprocessing_training", "XGBoostTraining"),
            ("DataLoading_evaluation", "TabularPreprocessing_evaluation"),
            ("XGBoostTraining", "XGBoostModelEval_evaluation"),
            ("TabularPreprocessing_evaluation", "XGBoostModelEval_evaluation"),
        ],
        description="XGBoost training with evaluation: train on one dataset, evaluate on a "
        "disjoint holdout",
    )


def get_dag_metadata() -> DagMetadata:
    return describe_dag(
        __name__,
        create_dag(),
        framework="xgboost",
        complexity="standard",
        features=("data_loading", "preprocessing", "training", "evaluation", "holdout_data"),
    )
