"""XGBoost training with feature selection: imputation, risk tables and feature selection fitted on
the training split and applied to the holdout, then evaluation.

The shape of the first system's `xgboost/training_with_feature_selection` catalog DAG, in Cursus node names.
"""

from __future__ import annotations

from cursus.api.dag import PipelineDAG
from cursus.pipeline_catalog.model import DagMetadata, describe_dag

SAMPLE_SOURCE = (
    "synthetic:classification?rows=2000&features=12&categorical=2&missing=0.05&fraction=0.3&seed=7"
)


def create_dag() -> PipelineDAG:
    return PipelineDAG(
        nodes=[
            "DataLoading_training",
            "TabularPreprocessing_training",
            "MissingValueImputation_training",
            "RiskTableMapping_training",
            "FeatureSelection_training",
            "XGBoostTraining",
            "DataLoading_evaluation",
            "TabularPreprocessing_evaluation",
            "MissingValueImputation_evaluation",
            "RiskTableMapping_evaluation",
            "FeatureSelection_evaluation",
            "XGBoostModelEval_evaluation",
        ],
        edges=[
            ("DataLoading_training", "TabularPreprocessing_training"),
            ("TabularPreprocessing_training", "MissingValueImputation_training"),
            ("MissingValueImputation_training", "RiskTableMapping_training"),
            ("RiskTableMapping_training", "FeatureSelection_training"),
            ("FeatureSelection_training", "XGBoostTraining"),
            ("DataLoading_evaluation", "TabularPreprocessing_evaluation"),
            ("TabularPreprocessing_evaluation", "MissingValueImputation_evaluation"),
            ("MissingValueImputation_evaluation", "RiskTableMapping_evaluation"),
            ("RiskTableMapping_evaluation", "FeatureSelection_evaluation"),
            ("FeatureSelection_evaluation", "XGBoostModelEval_evaluation"),
            ("MissingValueImputation_training", "MissingValueImputation_evaluation"),
            ("RiskTableMapping_training", "RiskTableMapping_evaluation"),
            ("FeatureSelection_training", "FeatureSelection_evaluation"),
            ("XGBoostTraining", "XGBoostModelEval_evaluation"),
        ],
        description=(
            "XGBoost training with feature selection: imputation, risk tables and feature "
            "selection fitted on the training split and applied to the holdout, then "
            "evaluation"
        ),
    )


def get_dag_metadata() -> DagMetadata:
    return describe_dag(
        __name__,
        create_dag(),
        framework="xgboost",
        complexity="advanced",
        features=("data_loading", "preprocessing", "training", "evaluation", "holdout_data"),
        # a table with what these steps are for: missing cells and categories (2,000 rows, 70%
        # train, the other 30% evaluate)
        sample_nodes={
            "DataLoading_training": {"data_source": SAMPLE_SOURCE + "&part=rest"},
            "DataLoading_evaluation": {"data_source": SAMPLE_SOURCE},
        },
    )
