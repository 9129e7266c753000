"""The SageMaker images as the step-script tests see them: which image runs which script, where
the image twins are, and where the images' old Python interpreters are.

`twin_python` is the ONE place that locates a twin, so pointing the tests at another twin manager
means changing this function only. Both lookups return None when nothing usable is there, and
the tests skip with `missing_reason`.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from cursus.backends.sagemaker.twins import (
    Twin,
    TwinUnavailable,
    find_interpreter,
    require_twin,
    twin_of,
)
from cursus.backends.sagemaker.twins import twin_python as built_twin_python
from cursus.frameworks import FRAMEWORKS

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS_DIR = ROOT / "src" / "cursus" / "steps" / "library"
SPECS_DIR = ROOT / "src" / "cursus" / "steps" / "library"
# the shared modules travel with every script (and into model.tar.gz/code/)
SHARED = sorted(p.name for p in SCRIPTS_DIR.glob("_*.py"))
# the images a model is served from: the ones Payload and the packaged inference.py run on
MODEL_IMAGES = ("xgboost", "lightgbm", "pytorch")

# environment variable naming a twin's python, instead of the twin `cursus sagemaker twins
# build` made
TWIN_ENV = {"sklearn": "CURSUS_TWIN_SKLEARN", "xgboost": "CURSUS_TWIN_XGBOOST"}


def _twin(framework: str) -> Twin:
    return twin_of(framework)


# the oldest Python each image's release branch shipped, from the twin table
OLDEST_PYTHON = {framework: _twin(framework).oldest_python for framework in FRAMEWORKS}


def twin_python(framework: str) -> str | None:
    """The python of `framework`'s image twin (sklearn or xgboost), or None when absent."""
    env = TWIN_ENV.get(framework)
    if env is None:
        return None
    if os.environ.get(env):
        return os.environ[env] if os.access(os.environ[env], os.X_OK) else None
    built = built_twin_python(_twin(framework))
    return str(built) if built else None


def missing_reason(what: str) -> str:
    try:
        require_twin(_twin(what))
    except TwinUnavailable as exc:
        return str(exc)
    return f"${TWIN_ENV[what]} is not an executable python"


def old_python(version: str) -> str | None:
    """A real interpreter of Python `version` ("3.8"), or None (a pyenv shim on PATH may exist
    without its version being installed: find_interpreter asks each candidate)."""
    try:
        return str(find_interpreter(version))
    except TwinUnavailable:
        return None


def scripts_by_image() -> dict[str, set[str]]:
    """Image (framework name) -> the script files it runs, read from the specs' `framework:`
    (`model`: the model's framework image) and contract bundles (served with the model)."""
    images: dict[str, set[str]] = {image: set(SHARED) for image in OLDEST_PYTHON}
    for spec_path in sorted(SPECS_DIR.glob("*.step.yaml")):
        spec = yaml.safe_load(spec_path.read_text())
        framework, contract = spec["framework"], spec["contract"]
        runs_on = MODEL_IMAGES if framework == "model" else (framework,)
        for image in runs_on:
            if image not in images:
                raise ValueError(
                    f"{spec_path.name} names framework {image!r}; add the oldest Python of its "
                    "image to OLDEST_PYTHON in tests/steps/_twins.py"
                )
            images[image].add(contract["entry_point"])
        for bundled in contract.get("bundle", ()):
            for image in MODEL_IMAGES:
                images[image].add(bundled)
    return images
