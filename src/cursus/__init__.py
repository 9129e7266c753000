"""Cursus: a DAG of ML step names plus one JSON config becomes a validated, runnable pipeline.

Start at `cursus.api.dag.PipelineDAG`, `cursus.core.compiler.PipelineDAGCompiler` and
`cursus.backends.local.run_pipeline`; the `cursus` command offers the same.
"""

__version__ = "0.1.0"
