"""Payload: sample requests for a model and the responses it must give to them.

Rows are drawn from the ranges and categories the preprocessing was fitted on. For a packaged
model the expected responses come from the package's own code/inference.py (not this folder's
copy), so they record what the packaged model will answer once deployed; for a trained model not
yet packaged (the first system's DAGs feed Payload from the training step) they come from this
folder's inference.py, the serving code Package puts beside it.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from _tabular import (
    MODEL_META_FILE,
    PREPROCESSING_FILE,
    StepInputError,
    env_int,
    extract_archive,
    load_json,
    write_deterministic_tar,
)

CONTAINER_INPUTS = {
    "packaged_model": "/opt/ml/processing/input/packaged_model",
    "model_input": "/opt/ml/processing/input/model",
}
CONTAINER_OUTPUTS = {"payload_sample": "/opt/ml/processing/output/payload"}
ENV_VARS = ["N_SAMPLES", "RANDOM_SEED"]

MODEL_ARCHIVE = "model.tar.gz"
CSV_FILE = "payload.csv"
JSON_FILE = "payload.json"
RESPONSES_FILE = "expected_responses.json"
PAYLOAD_ARCHIVE = "payload.tar.gz"
REQUESTS = ((CSV_FILE, "text/csv"), (JSON_FILE, "application/json"))
ACCEPTS = ("application/json", "text/csv")


# ---------------------------------------------------------------- the package


def extract_package(packaged_dir: Path, destination: Path) -> Path:
    archive = packaged_dir / MODEL_ARCHIVE
    if not archive.is_file():
        raise StepInputError(
            f"{packaged_dir} has no {MODEL_ARCHIVE}; feed this step the output of Package"
        )
    return extract_archive(archive, destination)


def model_and_code(input_paths: dict[str, str], tmp: Path) -> tuple[Path, Path]:
    """The model folder and the folder of the inference.py that answers for it: a package's
    own code/, or this step's folder for a trained model."""
    packaged = input_paths.get("packaged_model")
    if packaged:
        model_dir = extract_package(Path(packaged), tmp)
        return model_dir, model_dir / "code"
    trained = input_paths.get("model_input")
    if not trained:
        raise StepInputError(
            "Payload got no model: bind packaged_model (the output of Package) or model_input "
            "(the model_output of a training step)"
        )
    model_dir = Path(trained)
    archive = model_dir / MODEL_ARCHIVE
    if not (model_dir / MODEL_META_FILE).is_file() and archive.is_file():
        model_dir = extract_archive(archive, tmp)  # a training job's model.tar.gz, unopened
    if not (model_dir / MODEL_META_FILE).is_file():
        raise StepInputError(
            f"{trained} holds no {MODEL_META_FILE}; model_input must be the model_output of a "
            "training step"
        )
    return model_dir, Path(__file__).resolve().parent


def load_handler(code_dir: Path) -> ModuleType:
    """Import the package's code/inference.py under a unique name, with its sibling _tabular.

    The _tabular this script imported is set aside meanwhile, so the handler binds the packaged
    copy, which is what the endpoint will run. Nothing stays registered in sys.modules afterwards:
    the module keeps its own references.
    """
    source = code_dir / "inference.py"
    if not source.is_file():
        raise StepInputError(
            "the package has no code/inference.py; rebuild it with the Package step"
        )
    name = f"packaged_inference_{uuid.uuid4().hex}"
    own_tabular = sys.modules.pop("_tabular", None)
    sys.path.insert(0, str(code_dir))
    try:
        spec = importlib.util.spec_from_file_location(name, source)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
        sys.path.remove(str(code_dir))
        sys.modules.pop("_tabular", None)
        if own_tabular is not None:
            sys.modules["_tabular"] = own_tabular
    return module


# ---------------------------------------------------------------- sample rows


def sample_rows(preprocessing: dict[str, Any], n_samples: int, seed: int) -> list[dict[str, Any]]:
    """The first row is the typical one (medians, first category); the rest are random within the
    fitted ranges and categories."""
    if not preprocessing.get("fitted"):
        raise StepInputError(
            f"the package's {PREPROCESSING_FILE} is not fitted; package a trained model"
        )
    rng = np.random.default_rng(seed)
    return [_sample_row(preprocessing, rng, typical=(i == 0)) for i in range(n_samples)]


def _sample_row(
    preprocessing: dict[str, Any], rng: np.random.Generator, typical: bool
) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for feature in preprocessing["features"]:
        categories = preprocessing["categories"].get(feature)
        if categories is not None:
            row[feature] = _sample_category(categories, rng, typical)
        else:
            stats = preprocessing["numeric_stats"][feature]
            median = preprocessing["numeric_impute"][feature]
            row[feature] = median if typical else _sample_number(stats["min"], stats["max"], rng)
    return row


def _sample_category(categories: list[str], rng: np.random.Generator, typical: bool) -> str | None:
    if not categories:
        return None
    return categories[0] if typical else str(rng.choice(categories))


def _sample_number(low: float, high: float, rng: np.random.Generator) -> float:
    """Uniform in [low, high], shortened to 6 significant digits so payloads stay readable."""
    value = float(rng.uniform(low, high)) if high > low else float(low)
    return float(np.clip(float(f"{value:.6g}"), low, high))


# ---------------------------------------------------------------- payload files


def csv_text(rows: list[dict[str, Any]], features: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow(
            [
                "" if row[f] is None else repr(row[f]) if isinstance(row[f], float) else row[f]
                for f in features
            ]
        )
    return buffer.getvalue()


def json_text(rows: list[dict[str, Any]]) -> str:
    return json.dumps({"instances": rows}, indent=2, allow_nan=False) + "\n"


def expected_responses(handler: ModuleType, model_dir: Path, payload_dir: Path) -> dict[str, Any]:
    """Run each payload file through the handler, answering in each accept type."""
    model = handler.model_fn(str(model_dir))
    responses = []
    for request_file, content_type in REQUESTS:
        body = (payload_dir / request_file).read_text()
        prediction = handler.predict_fn(handler.input_fn(body, content_type), model)
        for accept in ACCEPTS:
            responses.append(
                {
                    "request_file": request_file,
                    "content_type": content_type,
                    "accept": accept,
                    "body": response_body(handler.output_fn(prediction, accept)),
                }
            )
    _check_consistent(responses)
    return {"responses": responses}


def recorded_from(input_paths: dict[str, str]) -> str:
    """ "packaged": the package's own answers; "trained": the trained model's, before a package
    (which may add calibrated values to them) was built."""
    return "packaged" if input_paths.get("packaged_model") else "trained"


def response_body(result: Any) -> str:
    """The body of an output_fn result: the first of a (body, content type) pair, which is what
    the SageMaker toolkits take, or the text itself from packages built before that."""
    return str(result[0]) if isinstance(result, tuple) else str(result)


def _check_consistent(responses: list[dict[str, Any]]) -> None:
    """The CSV and JSON payloads hold the same rows, so the package must answer them alike."""
    bodies = {r["request_file"]: r["body"] for r in responses if r["accept"] == "application/json"}
    if len(set(bodies.values())) > 1:
        raise StepInputError(
            f"the packaged inference code answers {CSV_FILE} and {JSON_FILE} differently although they "
            "hold the same rows; check its input_fn"
        )


# ---------------------------------------------------------------- step


def main(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    n_samples = env_int(environ_vars, "N_SAMPLES", 5)
    seed = env_int(environ_vars, "RANDOM_SEED", 0)
    if n_samples < 1:
        raise StepInputError(f"N_SAMPLES={n_samples} must be at least 1")
    out_dir = Path(output_paths["payload_sample"])
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, code_dir = model_and_code(input_paths, Path(tmp))
        preprocessing = load_json(model_dir / PREPROCESSING_FILE)
        rows = sample_rows(preprocessing, n_samples, seed)
        (out_dir / CSV_FILE).write_text(csv_text(rows, preprocessing["features"]))
        (out_dir / JSON_FILE).write_text(json_text(rows))
        handler = load_handler(code_dir)
        responses = expected_responses(handler, model_dir, out_dir)
    responses = {"model": recorded_from(input_paths), **responses}
    (out_dir / RESPONSES_FILE).write_text(json.dumps(responses, indent=2) + "\n")
    files = (CSV_FILE, JSON_FILE, RESPONSES_FILE)
    write_deterministic_tar(out_dir / PAYLOAD_ARCHIVE, {name: out_dir / name for name in files})
    return {"n_samples": float(n_samples)}


if __name__ == "__main__":
    for folder in CONTAINER_OUTPUTS.values():
        os.makedirs(folder, exist_ok=True)
    result = main(
        {name: path for name, path in CONTAINER_INPUTS.items() if os.path.isdir(path)},
        dict(CONTAINER_OUTPUTS),
        {name: os.environ[name] for name in ENV_VARS if name in os.environ},
        {},
    )
    print(json.dumps(result, indent=2))
