"""A DAG file whose create_dag() fails."""

from cursus.api.dag import PipelineDAG


def create_dag() -> PipelineDAG:
    dag = PipelineDAG()
    dag.add_node("XGBoostTraining")
    dag.add_edge("TabularPreprocessing_training", "XGBoostTraining")
    return dag
