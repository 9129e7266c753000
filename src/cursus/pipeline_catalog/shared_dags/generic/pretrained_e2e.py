"""Pretrained model end to end: a model trained elsewhere brought in by DummyTraining, packaged,
payloads, registered.

The shape of the first system's `dummy/e2e_basic` catalog DAG, in Cursus node names.
"""

from __future__ import annotations

from cursus.api.dag import PipelineDAG
from cursus.pipeline_catalog.model import DagMetadata, describe_dag


def create_dag() -> PipelineDAG:
    return PipelineDAG(
        nodes=[
            "DummyTraining",
            "Package",
            "Payload",
            "Registration",
        ],
        edges=[
            ("DummyTraining", "Package"),
            ("DummyTraining", "Payload"),
            ("Package", "Registration"),
            ("Payload", "Registration"),
        ],
        description=(
            "Pretrained model end to end: a model trained elsewhere brought in by "
            "DummyTraining, packaged, payloads, registered"
        ),
    )


def get_dag_metadata() -> DagMetadata:
    return describe_dag(
        __name__,
        create_dag(),
        framework="generic",
        complexity="simple",
        features=("packaging", "payload", "registration", "existing_model"),
        external_inputs={
            "DummyTraining.model_artifacts_input": (
                "the pretrained model: a model folder or model.tar.gz written by a Cursus training step or Package, "
                "a local path or an s3:// URI"
            )
        },
    )
