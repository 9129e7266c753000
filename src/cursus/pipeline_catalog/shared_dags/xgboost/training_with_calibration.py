"""XGBoost training with calibration: train, score a disjoint calibration set, fit a calibrator."""

from __future__ import annotations

from cursus.api.dag import PipelineDAG
from cursus.pipeline_catalog.model import DagMetadata, describe_dag


def create_dag() -> PipelineDAG:
    return PipelineDAG(
        nodes=[
            "DataLoading_training",
            "TabularPreprocessing_training",
            "XGBoostTraining",
            "DataLoading_calibration",
            "TabularPreprocessing_calibration",
            "XGBoostModelEval_calibration",
            "ModelCalibration_calibration",
        ],
        edges=[
            ("DataLoading_training", "TabularPreprocessing_training"),
            ("TabularPreprocessing_training", "XGBoostTraining"),
            ("DataLoading_calibration", "TabularPreprocessing_calibration"),
            ("XGBoostTraining", "XGBoostModelEval_calibration"),
            ("TabularPreprocessing_calibration", "XGBoostModelEval_calibration"),
            ("XGBoostModelEval_calibration", "ModelCalibration_calibration"),
        ],
        description="XGBoost training with calibration: train on one dataset, score a disjoint "
        "calibration set, fit a probability calibrator",
    )


def get_dag_metadata() -> DagMetadata:
    return describe_dag(
        __name__,
        create_dag(),
        framework="xgboost",
        complexity="standard",
        features=(
            "data_loading",
            "preprocessing",
            "training",
            "evaluation",
            "calibration",
            "holdout_data",
        ),
    )
