"""Shared LightGBM DAG shapes."""
