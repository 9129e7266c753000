"""PyTorch standard end to end: train, evaluate on a validation holdout, package, payloads from the
trained model, register (no calibration).

The shape of the first system's `pytorch/standard_e2e` catalog DAG, in Cursus node names.
"""

from __future__ import annotations

from cursus.api.dag import PipelineDAG
from cursus.pipeline_catalog.model import DagMetadata, describe_dag


def create_dag() -> PipelineDAG:
    return PipelineDAG(
        nodes=[
            "DataLoading_training",
            "TabularPreprocessing_training",
            "PyTorchTraining",
            "DataLoading_validation",
            "TabularPreprocessing_validation",
            "PyTorchModelEval_validation",
            "Package",
            "Payload",
            "Registration",
        ],
        edges=[
            ("DataLoading_training", "TabularPreprocessing_training"),
            ("TabularPreprocessing_training", "PyTorchTraining"),
            ("DataLoading_validation", "TabularPreprocessing_validation"),
            ("PyTorchTraining", "PyTorchModelEval_validation"),
            ("TabularPreprocessing_validation", "PyTorchModelEval_validation"),
            ("PyTorchTraining", "Package"),
            ("PyTorchTraining", "Payload"),
            ("Package", "Registration"),
            ("Payload", "Registration"),
        ],
        description=(
            "PyTorch standard end to end: train, evaluate on a validation holdout, package, "
            "payloads from the trained model, register (no calibration)"
        ),
    )


def get_dag_metadata() -> DagMetadata:
    return describe_dag(
        __name__,
        create_dag(),
        framework="pytorch",
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
