"""MODS catalog pipelines: the standard pipeline of each shape, compiled by MODSPipelineDAGCompiler.

Each module takes its standard counterpart's `PIPELINE` and makes its MODS variant with the
metadata MODS registers (author, version, description); the DAG is the same shared module.
"""
