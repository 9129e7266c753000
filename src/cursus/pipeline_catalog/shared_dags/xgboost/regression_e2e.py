"""XGBoost regression end to end: the shape of `xgboost.standard_e2e` (no calibration: a
regressor's output is a value, not a probability) on a numeric target (scikit-learn's bundled
diabetes table in the sample)."""

from __future__ import annotations

from cursus.api.dag import PipelineDAG
from cursus.pipeline_catalog.model import DagMetadata, describe_dag
from cursus.pipeline_catalog.shared_dags.xgboost import standard_e2e

TRAINING_DATA = "sklearn:diabetes?fraction=0.3&seed=7&part=rest"
HOLDOUT_DATA = "sklearn:diabetes?fraction=0.3&seed=7"


def create_dag() -> PipelineDAG:
    """The nodes and edges of `xgboost.standard_e2e`: only the data and the label differ."""
    dag = standard_e2e.create_dag()
    dag.description = (
        "XGBoost regression end to end: train a regressor, evaluate it on a "
        "disjoint holdout (RMSE, MAE, R^2), package, generate payloads, register"
    )
    return dag


def get_dag_metadata() -> DagMetadata:
    return describe_dag(
        __name__,
        create_dag(),
        framework="xgboost",
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
            "regression",
        ),
        sample_shared={"problem_type": "regression"},
        sample_nodes={
            "DataLoading_training": {"data_source": TRAINING_DATA},
            "DataLoading_evaluation": {"data_source": HOLDOUT_DATA},
        },
    )
