"""Starting a deployed pipeline with an execution document, against moto on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from cursus.api.loading import load_dag
from cursus.backends.sagemaker import upsert
from cursus.core.compiler import PipelineDAGCompiler
from cursus.errors import ConfigError
from cursus.mods.exec_doc import generate_execution_document, start_pipeline_execution
from cursus.targets import compile_dag


def test_start_with_an_execution_document(aws: str, configs: dict[str, Path]) -> None:
    import boto3

    config = configs["xgboost_simple"]
    upsert(compile_dag("xgboost_simple", config, "sagemaker"))
    plan = PipelineDAGCompiler(config).compile_to_plan(load_dag("xgboost_simple"))
    doc = generate_execution_document(plan)
    doc["PIPELINE_ADDITIONAL_PARAMS"]["parameters"] = {"KmsKeyId": "alias/run-key"}
    started = start_pipeline_execution("xgboost_simple", doc, config_path=config)
    stored = boto3.client("sagemaker").list_pipeline_parameters_for_execution(
        PipelineExecutionArn=started["execution_arn"]
    )["PipelineParameters"]
    assert {"Name": "KmsKeyId", "Value": "alias/run-key"} in stored

    doc["PIPELINE_STEP_CONFIGS"]["XGBoostTraining"]["STEP_CONFIG"]["hyperparameters"]["eta"] = 0.5
    with pytest.raises(ConfigError, match=r"XGBoostTraining', field 'hyperparameters'.*redeploy"):
        start_pipeline_execution("xgboost_simple", doc, config_path=config)
