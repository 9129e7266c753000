"""Deployment: package an existing model, generate payloads, register it.

Nothing in the DAG trains: Package's `model_input` is bound from outside, in the config's
`input_bindings` ({"model_input": "/path/to/model" or "s3://..."}), to the model folder of a
training run (XGBoost or PyTorch).
"""

from __future__ import annotations

from cursus.api.dag import PipelineDAG
from cursus.pipeline_catalog.model import DagMetadata, describe_dag


def create_dag() -> PipelineDAG:
    return PipelineDAG(
        nodes=["Package", "Payload", "Registration"],
        edges=[("Package", "Payload"), ("Package", "Registration"), ("Payload", "Registration")],
        description="Deployment: package an existing model, generate payloads, register",
    )


def get_dag_metadata() -> DagMetadata:
    return describe_dag(
        __name__,
        create_dag(),
        framework="generic",
        complexity="simple",
        features=("packaging", "payload", "registration", "existing_model"),
        external_inputs={
            "Package.model_input": "the model folder of a training run (model_artifacts): a "
            "local path, or an s3:// URI for SageMaker"
        },
    )
