"""XGBoost multiclass end to end: the shape of `xgboost.complete_e2e` on a 7-class label (the
digits 0-6 of scikit-learn's bundled digits table in the sample), with per-class calibration."""

from __future__ import annotations

from cursus.api.dag import PipelineDAG
from cursus.pipeline_catalog.model import DagMetadata, describe_dag
from cursus.pipeline_catalog.shared_dags.xgboost import complete_e2e

# 70% of the 7-class digits trains, the other 30% evaluates and calibrates
TRAINING_DATA = "sklearn:digits?n_class=7&fraction=0.3&seed=7&part=rest"
HOLDOUT_DATA = "sklearn:digits?n_class=7&fraction=0.3&seed=7"


def create_dag() -> PipelineDAG:
    """The nodes and edges of `xgboost.complete_e2e`: only the data and the label differ."""
    dag = complete_e2e.create_dag()
    dag.description = (
        "XGBoost multiclass end to end: train a classifier of several classes, "
        "evaluate and calibrate it per class on another dataset, package, generate payloads, "
        "register"
    )
    return dag


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
            "multiclass",
        ),
        bundled_name="xgboost_multiclass_e2e",
        sample_shared={"problem_type": "multiclass"},
        sample_nodes={
            "DataLoading_training": {"data_source": TRAINING_DATA},
            "DataLoading_calibration": {"data_source": HOLDOUT_DATA},
        },
    )
