"""Sample configs: every catalog pipeline runs locally on the bundled data as it comes.

A sample is `default_configs` of the pipeline's DAG with a few overrides: fewer trees and epochs
(seconds, not minutes), the pipeline metadata MODS reads, and role and bucket placeholders that
pass SageMaker's offline checks (replace them before deploying). A DAG with external inputs
(the deployment pipeline) binds them to `model_uri`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cursus.pipeline_catalog.model import CatalogPipeline

if TYPE_CHECKING:
    from cursus.core.config_file import Configs

SAMPLE_ROLE = "arn:aws:iam::123456789012:role/replace-with-your-sagemaker-role"
SAMPLE_BUCKET = "replace-with-your-bucket"
MODEL_URI_ENV = "CURSUS_MODEL_URI"

# the defaults train for minutes on real data; a sample is for seeing a pipeline work
FAST_SETTINGS: dict[str, dict[str, Any]] = {
    "xgboost": {"hyperparameters": {"num_round": 30, "early_stopping_rounds": 10}},
    "lightgbm": {"hyperparameters": {"num_boost_round": 30, "early_stopping_rounds": 10}},
    "pytorch": {"hyperparameters": {"epochs": 5, "hidden_dims": [32, 16]}},
    "generic": {"model_framework": "xgboost"},  # the deployment sample serves an XGBoost model
}


def default_model_uri() -> str:
    """Where a deployment sample finds its model: $CURSUS_MODEL_URI, else
    `<workspace>/models/latest` (`cursus catalog run ID -c CONFIG --export-model DIR` puts a
    trained model there)."""
    if os.environ.get(MODEL_URI_ENV):
        return os.environ[MODEL_URI_ENV]
    from cursus.workspace import resolve_workspace

    return str(resolve_workspace() / "models" / "latest")


def sample_configs(
    pipeline: CatalogPipeline, model_uri: str | None = None, **overrides: Any
) -> Configs:
    """The sample config of `pipeline`; `overrides` are shared field values (like `--set`)."""
    from cursus.core.config_file import default_configs

    dag = pipeline.create_dag()
    metadata = pipeline.dag_metadata()
    shared: dict[str, Any] = {
        "author": pipeline.author,
        "pipeline_name": pipeline.pipeline_name,
        "pipeline_version": pipeline.version,
        "pipeline_description": pipeline.description,
        "role": SAMPLE_ROLE,
        "bucket": SAMPLE_BUCKET,
        **FAST_SETTINGS[metadata.framework],
        **metadata.sample_shared,
        **overrides,
    }
    configs = default_configs(dag, **shared)
    for node, values in metadata.sample_nodes.items():
        config = configs[node]
        configs[node] = type(config).model_validate({**config.model_dump(), **values})
    for target in metadata.external_inputs:
        node, _, input_name = target.partition(".")
        config = configs[node]
        bindings = {**config.input_bindings, input_name: model_uri or default_model_uri()}
        configs[node] = type(config).model_validate(
            {**config.model_dump(), "input_bindings": bindings}
        )
    return configs


def write_sample_config(
    pipeline: CatalogPipeline, path: str | Path, model_uri: str | None = None, **overrides: Any
) -> Path:
    from cursus.core.config_file import save_configs

    return save_configs(sample_configs(pipeline, model_uri, **overrides), path)
