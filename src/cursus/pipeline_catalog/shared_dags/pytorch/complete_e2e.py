"""PyTorch complete end to end: the XGBoost complete shape with PyTorch training and evaluation."""

from __future__ import annotations

from cursus.api.dag import PipelineDAG
from cursus.pipeline_catalog.model import DagMetadata, describe_dag


def create_dag() -> PipelineDAG:
    return PipelineDAG(
        nodes=[
            "DataLoading_training",
            "TabularPreprocessing_training",
            "PyTorchTraining",
            "DataLoading_calibration",
            "TabularPreprocessing_calibration",
            "PyTorchModelEval_calibration",
            "ModelCalibration_calibration",
            "Package",
            "Payload",
            "Registration",
        ],
        edges=[
            ("DataLoading_training", "TabularPreprocessing_training"),
            ("TabularPreprocessing_training", "PyTorchTraining"),
            ("DataLoading_calibration", "TabularPreprocessing_calibration"),
            ("PyTorchTraining", "PyTorchModelEval_calibration"),
            ("TabularPreprocessing_calibration", "PyTorchModelEval_calibration"),
            ("PyTorchModelEval_calibration", "ModelCalibration_calibration"),
            ("PyTorchTraining", "Package"),
            ("ModelCalibration_calibration", "Package"),
            ("Package", "Payload"),
            ("Package", "Registration"),
            ("Payload", "Registration"),
        ],
        description="PyTorch end to end: train on one dataset, evaluate and calibrate on another, "
        "package, generate payloads, register",
    )


def get_dag_metadata() -> DagMetadata:
    return describe_dag(
        __name__,
        create_dag(),
        framework="pytorch",
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
        bundled_name="pytorch_e2e",
    )
