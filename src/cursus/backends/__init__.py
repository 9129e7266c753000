"""Backends: each starts from a Plan (local runner, SageMaker, Airflow)."""
