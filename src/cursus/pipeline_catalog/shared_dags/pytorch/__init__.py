"""Shared PyTorch DAG shapes."""
