"""XGBoost complete end to end: training and calibration branches, evaluation, calibration,
package, payloads, registration."""

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
            "Package",
            "Payload",
            "Registration",
        ],
        edges=[
            ("DataLoading_training", "TabularPreprocessing_training"),
            ("TabularPreprocessing_training", "XGBoostTraining"),
            ("DataLoading_calibration", "TabularPreprocessing_calibration"),
            ("XGBoostTraining", "XGBoostModelEval_calibration"),
            ("TabularPreprocessing_calibration", "XGBoostModelEval_calibration"),
            ("XGBoostModelEval_calibration", "ModelCalibration_calibration"),
            ("XGBoostTraining", "Package"),
            ("ModelCalibration_calibration", "Package"),
            ("Package", "Payload"),
            ("Package", "Registration"),
            ("Payload", "Registration"),
        ],
        description="XGBoost end to end: train on one dataset, evaluate and calibrate on another, "
        "package, generate payloads, register",
    )


def get_dag_metadata() -> DagMetadata:
    return describe_dag(
        __name__,
        create_dag(),
        framework="xgboost",
        complexity="comprehensive",
        features=(
            "data_loading",
            "preprocessing",
            "training",
            "evaluation",
            "calibration",
            "packaging",
            "payload",
            "registration",
            "holdout_data",
        ),
        bundled_name="xgboost_e2e",
    )
