"""How a LightGBM model of LightGBMTraining is loaded (the framework table's `model_loader` of
lightgbm), and how `lightgbm` is imported where the image lacks it.

LightGBM jobs run on the XGBoost image, which has everything but the lightgbm package; its wheel
travels in the code bundle (`wheels/` beside the scripts) and in the model (`wheels/` in the model
folder, so an endpoint has it too). `import_lightgbm` uses the installed package when there is
one, else unpacks that wheel into a folder under the temporary directory and imports it from
there: no pip, no network. It travels with the scripts and into model.tar.gz/code/.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

WHEELS_DIR = "wheels"
MODEL_FILE = "model.txt"


def wheel_folders(model_dir: Path | None = None) -> list[Path]:
    """Where a lightgbm wheel may be: beside this module (a job's bundle, a package's code/),
    and in the model folder."""
    here = Path(__file__).resolve().parent
    folders = [here / WHEELS_DIR, here.parent / WHEELS_DIR]
    if model_dir is not None:
        folders.insert(0, Path(model_dir) / WHEELS_DIR)
    return folders


def find_wheel(model_dir: Path | None = None) -> Path | None:
    for folder in wheel_folders(model_dir):
        wheels = sorted(folder.glob("lightgbm-*.whl")) if folder.is_dir() else []
        if wheels:
            return wheels[-1]
    return None


def import_lightgbm(model_dir: Path | None = None) -> Any:
    """The lightgbm module: installed, else unpacked from the wheel that travels with the code."""
    try:
        return importlib.import_module("lightgbm")
    except ImportError:
        pass
    wheel = find_wheel(model_dir)
    if wheel is None:
        raise ImportError(
            "lightgbm is not installed here and no lightgbm wheel travels with the code "
            f"(looked in {', '.join(str(f) for f in wheel_folders(model_dir))}); install "
            "lightgbm, or compile the pipeline with Cursus, which bundles the wheel"
        )
    target = Path(tempfile.gettempdir()) / "cursus-wheels" / wheel.stem
    if not (target / "lightgbm").is_dir():
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(partial)
        with contextlib.suppress(OSError):  # another process unpacked it first
            partial.rename(target)
    sys.path.insert(0, str(target))
    return importlib.import_module("lightgbm")


def copy_wheel_into(model_dir: Path) -> Path | None:
    """Put the wheel this job was given into the model folder, so whatever serves the model can
    import lightgbm without a network (nothing to copy where lightgbm came installed)."""
    wheel = find_wheel()
    if wheel is None:
        return None
    destination = Path(model_dir) / WHEELS_DIR / wheel.name
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(wheel.read_bytes())
    return destination


class LightGBMModel:
    def __init__(self, model_dir: Path, meta: dict[str, Any]) -> None:
        lgb = import_lightgbm(model_dir)
        self._booster = lgb.Booster(model_file=str(model_dir / meta.get("model_file", MODEL_FILE)))
        best = meta.get("best_iteration")
        self._num_iteration = int(best) + 1 if best is not None else None

    def predict_matrix(self, X: np.ndarray) -> np.ndarray:
        out = self._booster.predict(X, num_iteration=self._num_iteration, num_threads=1)
        return np.asarray(out, dtype=np.float64)


def load(model_dir: Path, meta: dict[str, Any], preprocessing: dict[str, Any]) -> LightGBMModel:
    return LightGBMModel(model_dir, meta)
