"""Constants and helpers the SageMaker tests share (a module of its own: importing them from
`conftest` depends on which conftest pytest happened to load last)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

ROLE = "arn:aws:iam::123456789012:role/CursusTest"
BUCKET = "cursus-test-bucket"
BUNDLED_DAGS = ("xgboost_e2e", "xgboost_simple", "pytorch_e2e")


def write_config(
    path: Path,
    dag: str,
    shared: dict[str, Any] | None = None,
    specific: dict[str, dict[str, Any]] | None = None,
    sample_data: bool = False,
) -> Path:
    """A complete config for a bundled DAG, with SageMaker's role and bucket set, reading data
    from S3 as a pipeline for SageMaker does (`sample_data`: the bundled sample, for the
    emulation, which runs on this machine)."""
    from cursus.api.loading import load_dag
    from cursus.core.config_file import default_configs, save_configs
    from cursus.steps.configs import DataLoadingConfig

    values = {"role": ROLE, "bucket": BUCKET, "pipeline_name": dag.replace("_", "-")}
    values.update(shared or {})
    values = {k: v for k, v in values.items() if v is not None}
    configs = default_configs(load_dag(dag), **values)
    for node, config in configs.items():
        if isinstance(config, DataLoadingConfig) and not sample_data:
            config.data_source = f"s3://{BUCKET}/data/{node}/"
    save_configs(configs, path)
    if specific:
        data = json.loads(path.read_text())
        for node, fields in specific.items():
            data["configuration"]["specific"].setdefault(node, {}).update(fields)
        path.write_text(json.dumps(data, indent=2))
    return path


def steps_by_name(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Name"]: s for s in definition["Steps"]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
