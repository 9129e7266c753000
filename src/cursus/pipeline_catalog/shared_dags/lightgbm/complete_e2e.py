"""LightGBM complete end to end: training and calibration branches, evaluation, calibration,
package, payloads, registration (the shape of `xgboost.complete_e2e`, trained with LightGBM)."""

from __future__ import annotations

from cursus.api.dag import PipelineDAG
from cursus.pipeline_catalog.model import DagMetadata, describe_dag


def create_dag() -> PipelineDAG:
    return PipelineDAG(
        nodes=[
            "DataLoading_training",
            "TabularPreprocessing_training",
            "LightGBMTraining",
            "DataLoading_calibration",
            "TabularPreprocessing_calibration",
            "LightGBMModelEval_calibration",
            "ModelCalibration_calibration",
            "Package",
            "Payload",
            "Registration",
        ],
        edges=[
            ("DataLoading_training", "TabularPreprocessing_training"),
            ("TabularPreprocessing_training", "LightGBMTraining"),
            ("DataLoading_calibration", "TabularPreprocessing_calibration"),
            ("LightGBMTraining", "LightGBMModelEval_calibration"),
            ("TabularPreprocessing_calibration", "LightGBMModelEval_calibration"),
            ("LightGBMModelEval_calibration", "ModelCalibration_calibration"),
            ("LightGBMTraining", "Package"),
            ("ModelCalibration_calibration", "Package"),
            ("Package", "Payload"),
            ("Package", "Registration"),
            ("Payload", "Registration"),
        ],
        description="LightGBM end to end: train on one dataset, evaluate and calibrate on "
        "another, package, generate payloads, register",
    )


def get_dag_metadata() -> DagMetadata:
    return describe_dag(
        __name__,
        create_dag(),
        framework="lightgbm",
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
        bundled_name="lightgbm_e2e",
    )
