"""Standard catalog pipelines: one small module per shared DAG, compiled by PipelineDAGCompiler.

Each module defines `PIPELINE` (a CatalogPipeline referencing its shared DAG module) and offers
`create_dag()` and `create_pipeline(config_path, target="sagemaker", **kwargs)`.
"""
