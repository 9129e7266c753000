"""XGBoost standard end to end: train, evaluate on a holdout, package, payloads, register; no
calibration step."""

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
        description="XGBoost standard end to end: train, evaluate on a disjoint holdout, "
        "package, generate payloads, register (no calibration)",
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
        ),
    )
