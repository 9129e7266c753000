"""DummyTraining: a pretrained model, brought in as if trained here.

The input is a model folder as Cursus' training steps write it (model_meta.json, preprocessing.json,
the model file), or a model.tar.gz holding one (a Package output, or a SageMaker training job's
archive). The folder is checked (its metadata read, its framework's loader found, and the model
loaded once, so a broken model fails here and not at the endpoint) and copied to model_output;
a package's code/ and calibration.json are left behind (Package adds the current ones).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from _tabular import (
    CALIBRATION_FILE,
    MODEL_META_FILE,
    PREPROCESSING_FILE,
    LoadedModel,
    StepInputError,
    env_str,
    extract_archive,
    load_json,
)

CONTAINER_INPUTS = {"model_artifacts_input": "/opt/ml/processing/input/model"}
CONTAINER_OUTPUTS = {"model_output": "/opt/ml/processing/output/model"}
ENV_VARS = ["MODEL_FRAMEWORK"]
LEFT_BEHIND = {"code", CALIBRATION_FILE}


def find_model(source: Path, tmp: Path) -> Path:
    """The model folder in `source`: the folder itself, or what its model.tar.gz holds."""
    if source.is_file() and source.name.endswith(".tar.gz"):
        return extract_archive(source, tmp)
    if (source / MODEL_META_FILE).is_file():
        return source
    archives = sorted(source.glob("*.tar.gz")) if source.is_dir() else []
    if len(archives) == 1:
        return extract_archive(archives[0], tmp)
    raise StepInputError(
        f"{source} holds no {MODEL_META_FILE} (nor one model.tar.gz with it); "
        "pretrained_model_path must be a model folder or model.tar.gz written by a Cursus "
        "training step or Package"
    )


def check_model(model_dir: Path, framework: str | None) -> dict[str, Any]:
    for name in (MODEL_META_FILE, PREPROCESSING_FILE):
        if not (model_dir / name).is_file():
            raise StepInputError(
                f"the pretrained model has no {name}; bring a model folder written by a Cursus "
                "training step (or its Package archive)"
            )
    meta = load_json(model_dir / MODEL_META_FILE)
    if framework and meta.get("framework") != framework:
        raise StepInputError(
            f"model_framework is {framework!r} but the pretrained model is a "
            f"{meta.get('framework')!r} model ({model_dir / MODEL_META_FILE}); set "
            "model_framework to the model's framework"
        )
    LoadedModel(model_dir)  # its loader found and the model loaded, or a clear error now
    return meta


def main(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    source = input_paths.get("model_artifacts_input")
    if not source:
        raise StepInputError(
            "DummyTraining got no model: set pretrained_model_path in its config (a local path "
            "or s3:// URI of a model folder or model.tar.gz)"
        )
    out = Path(output_paths["model_output"])
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = find_model(Path(source), Path(tmp))
        check_model(model_dir, env_str(environ_vars, "MODEL_FRAMEWORK"))
        out.mkdir(parents=True, exist_ok=True)
        for item in sorted(model_dir.iterdir()):
            if item.name in LEFT_BEHIND:
                continue
            if item.is_dir():
                shutil.copytree(item, out / item.name, dirs_exist_ok=True)
            else:
                shutil.copyfile(item, out / item.name)
    n_files = sum(1 for p in out.rglob("*") if p.is_file())
    return {"n_files": float(n_files)}


if __name__ == "__main__":
    for folder in CONTAINER_OUTPUTS.values():
        os.makedirs(folder, exist_ok=True)
    result = main(
        {name: path for name, path in CONTAINER_INPUTS.items() if os.path.exists(path)},
        dict(CONTAINER_OUTPUTS),
        {name: os.environ[name] for name in ENV_VARS if name in os.environ},
        {},
    )
    print(json.dumps(result, indent=2))
