"""`MLOpsClient`: one project's MLOps services from Python.

    client = MLOpsClient.from_project("fraud")
    with client.start_run("tuning") as run:
        client.log_params(run.run_id, {"model": {"eta": 0.1}})
        client.log_metrics(run.run_id, {"auc": 0.97})
        client.log_hardware_metrics(run.run_id)
        client.log_model("out/model.tar.gz", "xgb", run_id=run.run_id)   # -> fraud.xgb, @candidate
    client.dvc_add("data/train.csv"); client.dvc_push()
    client.deploy_model("xgb@candidate")

Runs go to the project's experiment in its tracking store; models are registered under the
project's prefix. Data versioning and serving are delegated to `cursus.mlops.data` and
`cursus.mlops.serving`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cursus.mlops.project import DEFAULT_PROJECT, Project


@dataclass
class TrackedRun:
    """An MLflow run started by `MLOpsClient.start_run`; as a context manager it ends the run,
    FAILED when the block raised."""

    client: MLOpsClient
    run_id: str
    name: str
    _ended: bool = field(default=False, repr=False)

    def end(self, status: str = "FINISHED") -> None:
        if not self._ended:
            self.client.end_run(self.run_id, status)
            self._ended = True

    def __enter__(self) -> TrackedRun:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.end("FAILED" if exc_type else "FINISHED")


class MLOpsClient:
    def __init__(self, project: Project) -> None:
        self.project = project
        self._mlflow: Any = None
        self._experiment_id: str | None = None

    @classmethod
    def from_project(
        cls, name: str = DEFAULT_PROJECT, workspace: str | Path | None = None
    ) -> MLOpsClient:
        """The client of project `name`, which is created at first use."""
        return cls(Project.load(name, workspace))

    # ------------------------------------------------------------------ tracking

    @property
    def mlflow(self) -> Any:
        """The `MlflowClient` of the project's tracking store (opened at first use)."""
        if self._mlflow is None:
            from cursus.mlops.tracking import mlflow_client

            self._mlflow = mlflow_client(self.project.tracking_uri)
        return self._mlflow

    @property
    def experiment_id(self) -> str:
        if self._experiment_id is None:
            from cursus.mlops.tracking import ensure_experiment

            self._experiment_id = ensure_experiment(
                self.mlflow, self.project.experiment, self.project.tracking_uri
            )
        return self._experiment_id

    def start_run(
        self,
        name: str | None = None,
        tags: dict[str, str] | None = None,
        parent_run_id: str | None = None,
    ) -> TrackedRun:
        """A new run in the project's experiment (nested under `parent_run_id` when given)."""
        all_tags = {"project": self.project.name, **(tags or {})}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = self.mlflow.create_run(self.experiment_id, tags=all_tags, run_name=name)
        return TrackedRun(self, run.info.run_id, run.info.run_name)

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.mlflow.set_terminated(run_id, status)

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        """Nested dicts become dot keys, as pipeline runs log their configs."""
        from mlflow.entities import Param

        from cursus.mlops.tracking import PARAMS_PER_BATCH, flatten

        items = [Param(k, v) for k, v in sorted(flatten(params).items())]
        for start in range(0, len(items), PARAMS_PER_BATCH):
            self.mlflow.log_batch(run_id, params=items[start : start + PARAMS_PER_BATCH])

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in sorted(metrics.items())]
        for start in range(0, len(items), 1000):
            self.mlflow.log_batch(run_id, metrics=items[start : start + 1000])

    def log_hardware_metrics(self, run_id: str, step: int = 0) -> dict[str, float]:
        """This process's CPU time and utilisation, resident memory, the machine's memory use, and
        GPU memory when torch uses CUDA or MPS; logged as `hardware.*` and returned."""
        values = hardware_snapshot()
        self.log_metrics(run_id, {f"hardware.{k}": v for k, v in values.items()}, step=step)
        return values

    # ------------------------------------------------------------------ registry

    def log_model(
        self,
        path: str | Path,
        name: str,
        run_id: str | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Register a packaged model (model.tar.gz, or a folder holding one) as a new version of
        `<project>.<name>` with the alias `candidate`; `run_id` links it to a run."""
        from cursus.mlops.registry import register_packaged_model

        lineage = {"run_id": run_id, "project": self.project.name}
        return register_packaged_model(
            path,
            self.project.model_name(name),
            self.project.registry_uri,
            metrics=metrics,
            lineage=lineage,
            mlflow_run_id=run_id,
        )

    # ------------------------------------------------------------------ data and serving

    def dvc_add(self, path: str | Path) -> dict[str, Any]:
        from cursus.mlops import data

        return data.dvc_add(self.project, path)

    def dvc_push(self) -> dict[str, Any]:
        from cursus.mlops import data

        return data.dvc_push(self.project)

    def deploy_model(self, model_ref: str, port: int | None = None) -> dict[str, Any]:
        from cursus.mlops import serving

        return serving.deploy_model(self.project, model_ref, port=port)

    def list_deployments(self) -> list[dict[str, Any]]:
        from cursus.mlops import serving

        return serving.list_deployments(self.project)


def hardware_snapshot() -> dict[str, float]:
    """What this process has used so far (CPU, memory, GPU) and the machine's memory in use."""
    import resource
    import sys

    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    values = {
        "cpu_user_seconds": usage.ru_utime,
        "cpu_system_seconds": usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10),
        "cpu_count": float(os.cpu_count() or 1),
    }
    try:
        import psutil

        proc = psutil.Process()
        values["rss_mb"] = proc.memory_info().rss / 2**20
        uptime = max(time.time() - proc.create_time(), 1e-9)
        values["cpu_utilization"] = cpu / uptime
        values["system_memory_percent"] = float(psutil.virtual_memory().percent)
    except Exception:  # psutil missing or not permitted: what resource gave is enough
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_initialized():
                values["gpu_peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
            elif torch.backends.mps.is_available():
                values["mps_allocated_memory_mb"] = torch.mps.driver_allocated_memory() / 2**20
        except Exception:
            pass
    return {k: round(float(v), 4) for k, v in values.items()}
