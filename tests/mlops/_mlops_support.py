"""Helpers for the MLOps tests: small packaged models and the record of a tracked e2e run."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

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


@dataclass(frozen=True)
class Packaged:
    archive: Path  # model.tar.gz
    payload: Path  # the Payload step's folder
    workspace: Path  # holds the folder registry the Registration step wrote
    features: list[str]
    holdout: pd.DataFrame  # raw rows the model can score


def build_packaged(root: Path, pipeline_name: str) -> Packaged:
    """Run the bundled xgboost_e2e pipeline in `root`: train, calibrate, package, payload and
    register (in the workspace's folder registry) a real model."""
    from cursus.api.loading import load_dag
    from cursus.backends.local import LocalRunner
    from cursus.core.compiler import PipelineDAGCompiler
    from cursus.core.config_file import default_configs, save_configs

    dag = load_dag("xgboost_e2e")
    config = save_configs(default_configs(dag, pipeline_name=pipeline_name), root / "config.json")
    plan = PipelineDAGCompiler(config).compile_to_plan(dag)
    workspace = root / "ws"
    result = LocalRunner(
        plan, workspace=workspace, workers=2, registry_uri=str(workspace / "registry")
    ).run()
    assert result.ok, {n: s.error for n, s in result.steps.items() if not s.ok}
    archive = Path(result.steps["Package"].outputs["packaged_model"]) / "model.tar.gz"
    with tarfile.open(archive) as tar:
        member = tar.extractfile("preprocessing.json")
        assert member is not None
        prep = json.load(member)
    holdout = pd.read_parquet(
        Path(result.steps["DataLoading_calibration"].outputs["data"]) / "data.parquet"
    )
    return Packaged(
        archive,
        Path(result.steps["Payload"].outputs["payload_sample"]),
        workspace,
        prep["features"],
        holdout[prep["features"]].head(25),
    )
