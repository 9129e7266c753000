"""XGBoost regression end to end: the shape of `xgboost.standard_e2e` (no calibration: a
regressor's output is a value, not a probability) on a numeric target (scikit-learn's bundled
diabetes table in the sample)."""

from __future__ import annotations

from cursus.api.dag import PipelineDAG
from cursus.pipeline_catalog.model import DagMetadata, describe_dag

TRAINING_DATA = "sklearn:diabetes?fraction=0.3&seed=7&part=rest"
HOLDOUT_DATA = "sklearn:diabetes?fraction=0.3&seed=7"


def create_dag() -> PipelineDAG:
    return PipelineDAG(
        nodes=[
            "DataLoading_training",
            "TabularPreprocessing_training",
            "XGBoostTraining",
            "DataLoading_evaluation",
            "TabularPreprocessing_evaluation",
            "XGBoostModelEval_evaluation",
            "Package",
            "Payload",
            "Registration",
        ],
        edges=[
            ("DataLoading_training", "TabularPreprocessing_training"),
            ("TabularPreprocessing_training", "XGBoostTraining"),
            ("DataLoading_evaluation", "TabularPreprocessing_evaluation"),
            ("XGBoostTraining", "XGBoostModelEval_evaluation"),
            ("TabularPreprocessing_evaluation", "XGBoostModelEval_evaluation"),
            ("XGBoostTraining", "Package"),
            ("Package", "Payload"),
            ("Package", "Registration"),
            ("Payload", "Registration"),
        ],
        description="XGBoost regression end to end: train a regressor, evaluate it on a "
        "disjoint holdout (RMSE, MAE, R^2), package, generate payloads, register",
    )


def get_dag_metadata() -> DagMetadata:
    return describe_dag(
        __name__,
        create_dag(),
        framework="xgboost",
        complexity="advanced",
        features=(
            "data_loading",
            "preprocessing",
            "training",
            "evaluation",
            "packaging",
            "payload",
            "registration",
            "holdout_data",
            "regression",
        ),
        sample_shared={"problem_type": "regression"},
        sample_nodes={
            "DataLoading_training": {"data_source": TRAINING_DATA},
            "DataLoading_evaluation": {"data_source": HOLDOUT_DATA},
        },
    )
