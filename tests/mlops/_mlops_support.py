"""Helpers for the MLOps tests: small packaged models and the record of a tracked e2e run."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

from cursus.backends.local import RunResult
from cursus.plan import Plan


def make_package(folder: Path, val_auc: float = 0.9, payload: bool = False) -> Path:
    """A small model.tar.gz with the metrics files Registration reads (no real model inside)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "training_metrics.json": {
            "val_auc": val_auc,
            "history": {"train": {"logloss": [0.6, 0.4]}},
        },
        "calibration_metrics.json": {"brier_after": 0.05, "method": "isotonic"},
        "model.json": {"fake": True},
    }
    archive = folder / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, content in files.items():
            data = json.dumps(content).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    if payload:
        with tarfile.open(folder / "payload.tar.gz", "w:gz") as tar:
            info = tarfile.TarInfo("payload.csv")
            info.size = 4
            tar.addfile(info, io.BytesIO(b"a,b\n"))
    return archive


@dataclass
class TrackedE2E:
    config: Path
    workspace: Path
    uri: str
    plan: Plan
    first: RunResult
    cached: RunResult
    mlflow_ids: dict[str, str]  # cursus run id -> MLflow run id
    errors: list[str]

    @property
    def package(self) -> Path:
        return Path(self.first.steps["Package"].outputs["packaged_model"]) / "model.tar.gz"
