"""Shared DAG shapes that work with a model of any framework."""
