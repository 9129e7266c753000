"""LightGBM end to end with percentile calibration and a test set: evaluation and percentiles on
one holdout, inference, metrics and a model card on another, package, payloads, register.

The shape of the first system's `lightgbm/complete_e2e_with_percentile_calibration` catalog DAG, in Cursus node names.
"""

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
            "PercentileModelCalibration_calibration",
            "DataLoading_testing",
            "TabularPreprocessing_testing",
            "LightGBMModelInference_testing",
            "ModelMetricsComputation_testing",
            "ModelWikiGenerator",
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
            ("LightGBMModelEval_calibration", "PercentileModelCalibration_calibration"),
            ("DataLoading_testing", "TabularPreprocessing_testing"),
            ("LightGBMTraining", "LightGBMModelInference_testing"),
            ("TabularPreprocessing_testing", "LightGBMModelInference_testing"),
            ("LightGBMModelInference_testing", "ModelMetricsComputation_testing"),
            ("ModelMetricsComputation_testing", "ModelWikiGenerator"),
            ("PercentileModelCalibration_calibration", "Package"),
            ("LightGBMTraining", "Package"),
            ("LightGBMTraining", "Payload"),
            ("Package", "Registration"),
            ("Payload", "Registration"),
        ],
        description=(
            "LightGBM end to end with percentile calibration and a test set: evaluation and "
            "percentiles on one holdout, inference, metrics and a model card on another, "
            "package, payloads, register"
        ),
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
    )
