"""XGBoostModelEval, LightGBMModelEval, PyTorchModelEval: score held-out data with a trained model.

Scoring does not depend on the framework (`_tabular.LoadedModel` hides it), so the three step
types share this script (their specs differ in which training steps they accept and which image
runs them), as the model inference steps share model_inference.py; the work lives in
`_tabular.run_evaluation`.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import _tabular

CONTAINER_INPUTS = {
    "model_input": "/opt/ml/processing/input/model",
    "processed_data": "/opt/ml/processing/input/eval_data",
}
CONTAINER_OUTPUTS = {
    "eval_output": "/opt/ml/processing/output/eval",
    "metrics_output": "/opt/ml/processing/output/metrics",
}
ENV_VARS = ["LABEL_FIELD", "ID_FIELD"]


def main(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    return _tabular.run_evaluation(input_paths, output_paths, environ_vars, job_args)


def _parse_job_args(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    # an unknown job type still works: run_evaluation falls back to the test/ split
    parser.add_argument("--job_type", "--job-type", dest="job_type", default="testing")
    return {"job_type": parser.parse_args(argv).job_type}


if __name__ == "__main__":
    for directory in CONTAINER_OUTPUTS.values():
        os.makedirs(directory, exist_ok=True)
    result_metrics = main(
        input_paths=dict(CONTAINER_INPUTS),
        output_paths=dict(CONTAINER_OUTPUTS),
        environ_vars={k: os.environ[k] for k in ENV_VARS if k in os.environ},
        job_args=_parse_job_args(),
    )
    print(json.dumps(result_metrics, indent=2))
