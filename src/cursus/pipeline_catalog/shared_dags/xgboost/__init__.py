"""Shared XGBoost DAG shapes."""
