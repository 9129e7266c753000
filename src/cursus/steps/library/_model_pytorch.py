"""How a PyTorch model of PyTorchTraining is loaded (the framework table's `model_loader` of
pytorch): the tabular network rebuilt from model_meta.json, its weights, and the standardisation
it was trained with. It travels with the scripts and into model.tar.gz/code/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def build_mlp(n_features: int, hidden_dims: list[int], dropout: float) -> Any:
    """The tabular network PyTorchTraining trains and `load` rebuilds."""
    import torch.nn as nn

    layers: list[Any] = []
    width = n_features
    for hidden in hidden_dims:
        layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
        width = hidden
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


class PyTorchModel:
    def __init__(self, model_dir: Path, meta: dict[str, Any], n_features: int) -> None:
        import torch

        net = build_mlp(n_features, meta["hidden_dims"], float(meta.get("dropout", 0.0)))
        state = torch.load(model_dir / meta["model_file"], map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        net.eval()
        self._net = net
        self._mean = np.asarray(meta["feature_mean"], dtype=np.float32)
        self._scale = np.asarray(meta["feature_scale"], dtype=np.float32)

    def predict_matrix(self, X: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            scaled = torch.from_numpy((X - self._mean) / self._scale)
            logits = self._net(scaled).squeeze(-1)
            return torch.sigmoid(logits).numpy().astype(np.float64)


def load(model_dir: Path, meta: dict[str, Any], preprocessing: dict[str, Any]) -> PyTorchModel:
    return PyTorchModel(model_dir, meta, len(preprocessing["features"]))
