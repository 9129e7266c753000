"""Drawing a DAG: a text tree and a Mermaid flowchart."""

from __future__ import annotations

import itertools

from cursus.api.dag import PipelineDAG
from cursus.api.loading import load_dag
from cursus.api.render import dag_mermaid, dag_tree


def test_tree_of_the_bundled_xgboost_pipeline() -> None:
    assert dag_tree(load_dag("xgboost_e2e")) == "\n".join(
        [
            "DataLoading_training",
            "└── TabularPreprocessing_training",
            "    └── XGBoostTraining",
            "        ├── XGBoostModelEval_calibration",
            "        │   └── ModelCalibration_calibration",
            "        │       └── Package",
            "        │           ├── Payload",
            "        │           │   └── Registration",
            "        │           └── Registration  (see above)",
            "        └── Package  (see above)",
            "DataLoading_calibration",
            "└── TabularPreprocessing_calibration",
            "    └── XGBoostModelEval_calibration  (see above)",
        ]
    )


def test_tree_draws_every_node_once_and_isolated_nodes_too() -> None:
    dag = PipelineDAG(["a", "b", "lonely"], [("a", "b")])
    assert dag_tree(dag) == "a\n└── b\nlonely"


def test_tree_of_a_very_long_chain_does_not_recurse_too_deep() -> None:
    names = [f"step{i}" for i in range(3000)]
    dag = PipelineDAG(names, list(itertools.pairwise(names)))
    lines = dag_tree(dag).splitlines()
    assert len(lines) == 3000
    assert lines[-1].endswith("└── step2999")


def test_mermaid_of_the_simple_pipeline() -> None:
    assert dag_mermaid(load_dag("xgboost_simple")) == "\n".join(
        [
            "flowchart TD",
            '    DataLoading_training["DataLoading_training"]',
            '    TabularPreprocessing_training["TabularPreprocessing_training"]',
            '    XGBoostTraining["XGBoostTraining"]',
            "    DataLoading_training --> TabularPreprocessing_training",
            "    TabularPreprocessing_training --> XGBoostTraining",
        ]
    )


def test_mermaid_ids_stay_distinct_when_names_clean_up_alike() -> None:
    dag = PipelineDAG(
        ["Package_a-b", "Package_a_b", 'Payload_"x"'], [("Package_a-b", "Package_a_b")]
    )
    assert dag_mermaid(dag).splitlines() == [
        "flowchart TD",
        '    Package_a_b["Package_a-b"]',
        '    Package_a_b_2["Package_a_b"]',
        '    Payload__x_["Payload_#quot;x#quot;"]',
        "    Package_a_b --> Package_a_b_2",
    ]
