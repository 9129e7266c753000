"""XGBoostModelInference, LightGBMModelInference, PyTorchModelInference: predictions, without
metrics, of a trained model.

Scoring does not depend on the framework (`_tabular.LoadedModel` hides it), so the three step types
share this script (their specs differ in which training step they accept and which image runs
them) and the work lives in `_tabular.run_inference`; this script only binds the contract.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from _tabular import run_inference

CONTAINER_INPUTS = {
    "model_input": "/opt/ml/processing/input/model",
    "processed_data": "/opt/ml/processing/input/eval_data",
}
CONTAINER_OUTPUTS = {
    "eval_output": "/opt/ml/processing/output/eval",
}
ENV_VARS = ["LABEL_FIELD", "ID_FIELD"]


def main(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    return run_inference(input_paths, output_paths, environ_vars, job_args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    # an unknown job type still works: the split falls back to test/
    parser.add_argument("--job_type", "--job-type", dest="job_type", default="testing")
    args = parser.parse_args()
    for directory in CONTAINER_OUTPUTS.values():
        os.makedirs(directory, exist_ok=True)
    result_metrics = main(
        input_paths=dict(CONTAINER_INPUTS),
        output_paths=dict(CONTAINER_OUTPUTS),
        environ_vars={k: os.environ[k] for k in ENV_VARS if k in os.environ},
        job_args={"job_type": args.job_type},
    )
    print(json.dumps(result_metrics, indent=2))
