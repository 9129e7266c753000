"""XGBoost training on a stratified sample: the training split sampled per class, then evaluation
on the holdout as it comes.

The shape of the first system's `xgboost/training_with_stratified` catalog DAG, in Cursus node names.
"""

from __future__ import annotations

from cursus.api.dag import PipelineDAG
from cursus.pipeline_catalog.model import DagMetadata, describe_dag


def create_dag() -> PipelineDAG:
    return PipelineDAG(
        nodes=[
            "DataLoading_training",
            "TabularPreprocessing_training",
            "StratifiedSampling_training",
            "XGBoostTraining",
            "DataLoading_evaluation",
            "TabularPreprocessing_evaluation",
            "XGBoostModelEval_evaluation",
        ],
        edges=[
            ("DataLoading_training", "TabularPreprocessing_training"),
            ("TabularPreprocessing_training", "StratifiedSampling_training"),
            ("StratifiedSampling_training", "XGBoostTraining"),
            ("DataLoading_evaluation", "TabularPreprocessing_evaluation"),
            ("XGBoostTraining", "XGBoostModelEval_evaluation"),
            ("TabularPreprocessing_evaluation", "XGBoostModelEval_evaluation"),
        ],
        description=(
            "XGBoost training on a stratified sample: the training split sampled per class, "
            "then evaluation on the holdout as it comes"
        ),
    )


def get_dag_metadata() -> DagMetadata:
    return describe_dag(
        __name__,
        create_dag(),
        framework="xgboost",
        complexity="standard",
        features=("data_loading", "preprocessing", "training", "evaluation", "holdout_data"),
    )
