"""XGBoost end to end with percentile calibration: scores mapped to percentiles on a holdout,
packaged with the trained model, payloads from the trained model, register.

The shape of the first system's `xgboost/percentile_e2e` catalog DAG, in Cursus node names.
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
            "XGBoostModelEval_calibration",
            "PercentileModelCalibration_calibration",
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
            ("XGBoostModelEval_calibration", "PercentileModelCalibration_calibration"),
            ("PercentileModelCalibration_calibration", "Package"),
            ("XGBoostTraining", "Package"),
            ("XGBoostTraining", "Payload"),
            ("Package", "Registration"),
            ("Payload", "Registration"),
        ],
        description=(
            "XGBoost end to end with percentile calibration: scores mapped to percentiles on "
            "a holdout, packaged with the trained model, payloads from the trained model, "
            "register"
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
