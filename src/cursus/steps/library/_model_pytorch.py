"""How a PyTorch model of PyTorchTraining is loaded (the framework table's `model_loader` of
pytorch): the tabular network rebuilt from model_meta.json, its weights, and the standardisation
it was trained with. Its output is turned into what `_tabular.LoadedModel` promises by the problem
type: a sigmoid (binary), a softmax over `n_outputs` classes (multiclass), or the standardised
target scaled back (regression). It travels with the scripts and into model.tar.gz/code/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def build_mlp(n_features: int, hidden_dims: list[int], dropout: float, n_outputs: int = 1) -> Any:
    """The tabular network PyTorchTraining trains and `load` rebuilds: one output (a logit, or a
    standardised value) or one logit per class."""
    import torch.nn as nn

    layers: list[Any] = []
    width = n_features
    for hidden in hidden_dims:
        layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
        width = hidden
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


class PyTorchModel:
    def __init__(self, model_dir: Path, meta: dict[str, Any], n_features: int) -> None:
        import torch

        self._problem_type = str(meta.get("problem_type") or "binary")
        n_outputs = int(meta.get("n_outputs") or 1)
        net = build_mlp(n_features, meta["hidden_dims"], float(meta.get("dropout", 0.0)), n_outputs)
        state = torch.load(model_dir / meta["model_file"], map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        net.eval()
        self._net = net
        self._mean = np.asarray(meta["feature_mean"], dtype=np.float32)
        self._scale = np.asarray(meta["feature_scale"], dtype=np.float32)
        self._target = (float(meta.get("target_mean", 0.0)), float(meta.get("target_scale", 1.0)))

    def predict_matrix(self, X: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            scaled = torch.from_numpy((X - self._mean) / self._scale)
            return outputs_to_predictions(self._net(scaled), self._problem_type, self._target)


def outputs_to_predictions(out: Any, problem_type: str, target: tuple[float, float]) -> np.ndarray:
    """The network's raw output as probabilities (binary, multiclass) or values (regression)."""
    import torch

    if problem_type == "multiclass":
        return torch.softmax(out, dim=-1).numpy().astype(np.float64)
    out = out.squeeze(-1)
    if problem_type == "regression":
        mean, scale = target
        return out.numpy().astype(np.float64) * scale + mean
    return torch.sigmoid(out).numpy().astype(np.float64)


def load(model_dir: Path, meta: dict[str, Any], preprocessing: dict[str, Any]) -> PyTorchModel:
    return PyTorchModel(model_dir, meta, len(preprocessing["features"]))
