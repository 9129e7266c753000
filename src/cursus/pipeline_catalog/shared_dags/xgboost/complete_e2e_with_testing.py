"""XGBoost end to end with a test set: percentile calibration on one holdout, inference, metrics
and a model card on another, package, payloads, register.

The shape of the first system's `xgboost/complete_e2e_with_testing` catalog DAG, in Cursus node names.
"""

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
            "XGBoostModelInference_calibration",
            "PercentileModelCalibration_calibration",
            "DataLoading_testing",
            "TabularPreprocessing_testing",
            "XGBoostModelInference_testing",
            "ModelMetricsComputation_testing",
            "ModelWikiGenerator",
            "Package",
            "Payload",
            "Registration",
        ],
        edges=[
            ("DataLoading_training", "TabularPreprocessing_training"),
            ("TabularPreprocessing_training", "XGBoostTraining"),
            ("DataLoading_calibration", "TabularPreprocessing_calibration"),
            ("XGBoostTraining", "XGBoostModelInference_calibration"),
            ("TabularPreprocessing_calibration", "XGBoostModelInference_calibration"),
            ("XGBoostModelInference_calibration", "PercentileModelCalibration_calibration"),
            ("DataLoading_testing", "TabularPreprocessing_testing"),
            ("XGBoostTraining", "XGBoostModelInference_testing"),
            ("TabularPreprocessing_testing", "XGBoostModelInference_testing"),
            ("XGBoostModelInference_testing", "ModelMetricsComputation_testing"),
            ("ModelMetricsComputation_testing", "ModelWikiGenerator"),
            ("PercentileModelCalibration_calibration", "Package"),
            ("XGBoostTraining", "Package"),
            ("XGBoostTraining", "Payload"),
            ("Package", "Registration"),
            ("Payload", "Registration"),
        ],
        description=(
            "XGBoost end to end with a test set: percentile calibration on one holdout, "
            "inference, metrics and a model card on another, package, payloads, register"
        ),
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
    )
