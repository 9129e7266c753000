"""Pretrained XGBoost model on new data: inference, metrics, calibration and a model card, no
training.

The shape of the first system's `xgboost/inference_with_wiki` catalog DAG, in Cursus node names.
"""

from __future__ import annotations

from cursus.api.dag import PipelineDAG
from cursus.pipeline_catalog.model import DagMetadata, describe_dag


def create_dag() -> PipelineDAG:
    return PipelineDAG(
        nodes=[
            "DummyTraining",
            "DataLoading_calibration",
            "TabularPreprocessing_calibration",
            "XGBoostModelInference_calibration",
            "ModelMetricsComputation_calibration",
            "ModelWikiGenerator",
            "ModelCalibration_calibration",
        ],
        edges=[
            ("DataLoading_calibration", "TabularPreprocessing_calibration"),
            ("DummyTraining", "XGBoostModelInference_calibration"),
            ("TabularPreprocessing_calibration", "XGBoostModelInference_calibration"),
            ("XGBoostModelInference_calibration", "ModelMetricsComputation_calibration"),
            ("ModelMetricsComputation_calibration", "ModelWikiGenerator"),
            ("XGBoostModelInference_calibration", "ModelCalibration_calibration"),
        ],
        description=(
            "Pretrained XGBoost model on new data: inference, metrics, calibration and a "
            "model card, no training"
        ),
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
            "evaluation",
            "calibration",
            "existing_model",
        ),
        external_inputs={
            "DummyTraining.model_artifacts_input": (
                "the pretrained XGBoost model: a model folder or model.tar.gz written by XGBoostTraining or Package, "
                "a local path or an s3:// URI"
            )
        },
        sample_nodes={"DummyTraining": {"model_framework": "xgboost"}},
    )
