"""PyTorch end to end on a stratified sample with percentile calibration: the training split
sampled per class, percentiles from inference on a holdout, package, payloads, register.

The shape of the first system's `pytorch/stratified_percentile_e2e` catalog DAG, in Cursus node names.
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
            "PyTorchTraining",
            "DataLoading_calibration",
            "TabularPreprocessing_calibration",
            "PyTorchModelInference_calibration",
            "PercentileModelCalibration_calibration",
            "Package",
            "Payload",
            "Registration",
        ],
        edges=[
            ("DataLoading_training", "TabularPreprocessing_training"),
            ("TabularPreprocessing_training", "StratifiedSampling_training"),
            ("StratifiedSampling_training", "PyTorchTraining"),
            ("DataLoading_calibration", "TabularPreprocessing_calibration"),
            ("PyTorchTraining", "PyTorchModelInference_calibration"),
            ("TabularPreprocessing_calibration", "PyTorchModelInference_calibration"),
            ("PyTorchModelInference_calibration", "PercentileModelCalibration_calibration"),
            ("PercentileModelCalibration_calibration", "Package"),
            ("PyTorchTraining", "Package"),
            ("PyTorchTraining", "Payload"),
            ("Package", "Registration"),
            ("Payload", "Registration"),
        ],
        description=(
            "PyTorch end to end on a stratified sample with percentile calibration: the "
            "training split sampled per class, percentiles from inference on a holdout, "
            "package, payloads, register"
        ),
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
    )
