"""A DAG file that defines neither create_dag() nor dag."""

NODES = ["XGBoostTraining"]
