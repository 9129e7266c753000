"""Package: build model.tar.gz in the layout SageMaker serving expects.

The model files go at the root, calibration.json next to them when the model was calibrated, and
the serving code (inference.py with the _tabular.py it imports) under code/. The tarball's bytes
depend only on its contents, so packaging the same model twice gives the same digest.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from _tabular import (
    CALIBRATION_FILE,
    MODEL_META_FILE,
    StepInputError,
    load_json,
    loader_name,
    write_deterministic_tar,
)

CONTAINER_INPUTS = {
    "model_input": "/opt/ml/processing/input/model",
    "calibration_model": "/opt/ml/processing/input/calibration",
}
CONTAINER_OUTPUTS = {"packaged_model": "/opt/ml/processing/output/packaged_model"}
ENV_VARS: list[str] = []

MODEL_ARCHIVE = "model.tar.gz"
SCRIPTS_DIR = Path(__file__).resolve().parent
SERVING_CODE = ("inference.py", "_tabular.py")


def model_entries(model_dir: Path) -> dict[str, Path]:
    """Every file of the model_artifacts folder, by its path relative to the folder."""
    if not (model_dir / MODEL_META_FILE).is_file():
        raise StepInputError(
            f"{model_dir} has no {MODEL_META_FILE}; model_input must be the model output of a training step"
        )
    return {p.relative_to(model_dir).as_posix(): p for p in model_dir.rglob("*") if p.is_file()}


CALIBRATION_METRICS_FILE = "calibration_metrics.json"
EVALUATION_FILE = "evaluation.json"  # _tabular.EVALUATION_FILE, via ModelCalibration


def calibration_entry(calibration_dir: Path) -> dict[str, Path]:
    path = calibration_dir / CALIBRATION_FILE
    if not path.is_file():
        raise StepInputError(
            f"{calibration_dir} has no {CALIBRATION_FILE}; calibration_model must be the calibration output of ModelCalibration"
        )
    entries = {CALIBRATION_FILE: path}
    for name in (CALIBRATION_METRICS_FILE, EVALUATION_FILE):
        path = calibration_dir / name
        if path.is_file():  # carried so Registration can record how the model scored
            entries[name] = path
    return entries


def code_entries(scripts_dir: Path = SCRIPTS_DIR, model_dir: Path | None = None) -> dict[str, Path]:
    """code/: the serving code, and the loader of the model's framework unless the model
    folder brings its own (`_tabular.LoadedModel` finds either)."""
    entries = {f"code/{name}": scripts_dir / name for name in SERVING_CODE}
    if model_dir is not None:
        loader = loader_name(load_json(model_dir / MODEL_META_FILE)) + ".py"
        if not (model_dir / loader).is_file():
            if not (scripts_dir / loader).is_file():
                raise StepInputError(
                    f"{model_dir / MODEL_META_FILE}: its framework's loader {loader} is neither "
                    f"in the model folder nor in {scripts_dir}; a served model needs one"
                )
            entries[f"code/{loader}"] = scripts_dir / loader
    return entries


def archive_entries(model_dir: Path, calibration_dir: Path | None) -> dict[str, Path]:
    """calibration.json comes only from the calibration input and code/ only from this scripts
    folder, so a stale copy inside the model folder can never be served."""
    entries = model_entries(model_dir)
    entries = {
        name: path
        for name, path in entries.items()
        if name != CALIBRATION_FILE and not name.startswith("code/")
    }
    if calibration_dir is not None:
        entries.update(calibration_entry(calibration_dir))
    entries.update(code_entries(model_dir=model_dir))
    return entries


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    calibration = input_paths.get("calibration_model")
    entries = archive_entries(
        Path(input_paths["model_input"]), Path(calibration) if calibration else None
    )
    archive = write_deterministic_tar(Path(output_paths["packaged_model"]) / MODEL_ARCHIVE, entries)
    print(f"wrote {archive} ({len(entries)} files, sha256 {sha256_file(archive)})")
    return {
        "n_files": float(len(entries)),
        "calibrated": float(CALIBRATION_FILE in entries),
        "size_bytes": float(archive.stat().st_size),
    }


def _mounted_inputs() -> dict[str, str]:
    """The optional calibration channel is absent from the container when not wired."""
    return {name: path for name, path in CONTAINER_INPUTS.items() if os.path.isdir(path)}


if __name__ == "__main__":
    for folder in CONTAINER_OUTPUTS.values():
        os.makedirs(folder, exist_ok=True)
    result = main(_mounted_inputs(), dict(CONTAINER_OUTPUTS), {}, {})
    print(json.dumps(result, indent=2))
