"""Loads a PyTorch module that `MLOpsClient.log_model` saved as TorchScript (no class to import).

The module takes a float32 matrix of the features and gives logits or probabilities, as its
model_meta.json says (`outputs`); `predict_matrix(X)` turns them into what
`_tabular.LoadedModel` promises: a probability (binary), one per class (multiclass), or the
value (regression).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np


class TorchScriptModel:
    def __init__(self, model_dir: Path, meta: dict[str, Any]) -> None:
        import torch

        with warnings.catch_warnings():  # deprecated in torch 2.13, the images' 2.1 needs it
            warnings.simplefilter("ignore", DeprecationWarning)
            self._module = torch.jit.load(str(model_dir / meta["model_file"]), map_location="cpu")
        self._module.eval()
        self._problem_type = str(meta.get("problem_type") or "binary")
        self._logits = meta.get("outputs", "logits") == "logits"

    def predict_matrix(self, X: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            out = self._module(torch.from_numpy(np.asarray(X, dtype=np.float32)))
            if self._problem_type == "multiclass":
                out = torch.softmax(out, dim=-1) if self._logits else out
                return out.numpy().astype(np.float64)
            out = out.reshape(len(X))
            if self._problem_type == "binary" and self._logits:
                out = torch.sigmoid(out)
            return out.numpy().astype(np.float64)


def load(model_dir: Path, meta: dict[str, Any], preprocessing: dict[str, Any]) -> TorchScriptModel:
    return TorchScriptModel(model_dir, meta)
