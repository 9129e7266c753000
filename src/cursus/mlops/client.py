"""`MLOpsClient`: one project's MLOps services from Python.

    client = MLOpsClient.from_project("fraud")
    with client.start_run(run_name="tuning"):
        client.log_params({"model": {"eta": 0.1}})
        client.log_metrics({"auc": 0.97})
        client.log_hardware_metrics()
        client.log_model(model, "xgb")          # -> fraud.xgb version N, alias candidate
    client.dvc_add("data/train.csv"); client.dvc_push()
    client.deploy_model("xgb", version="v1.0")  # serves fraud.xgb version 1 on loopback

Runs go to the project's experiment in its tracking store. Inside `with client.start_run(...)` the
logging calls go to that run; each also takes a run id first (`client.log_metrics(run_id, {...})`)
for a run that is not the active one. Models are registered under the project's prefix. Data
versioning and serving are delegated to `cursus.mlops.data` and `cursus.mlops.serving`.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cursus.mlops.project import DEFAULT_PROJECT, MLOpsError, Project

APPLE_PREFIX = "apple_silicon."
HARDWARE_PREFIX = "hardware."


@dataclass
class TrackedRun:
    """An MLflow run started by `MLOpsClient.start_run`: the client's active run until it ends.
    As a context manager it ends the run, FAILED when the block raised."""

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
        self._active: list[TrackedRun] = []

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

    @property
    def active_run(self) -> TrackedRun | None:
        """The innermost run started and not yet ended."""
        return self._active[-1] if self._active else None

    def start_run(
        self,
        name: str | None = None,
        tags: dict[str, str] | None = None,
        parent_run_id: str | None = None,
        *,
        run_name: str | None = None,
    ) -> TrackedRun:
        """A new run in the project's experiment, active until it ends. It is nested under
        `parent_run_id` when given, else under the run active now, if any. `run_name` is
        another spelling of `name` (MLflow's)."""
        if name is not None and run_name is not None and name != run_name:
            raise MLOpsError(f"start_run got name={name!r} and run_name={run_name!r}; give one")
        all_tags = {"project": self.project.name, **(tags or {})}
        parent = parent_run_id or (self.active_run.run_id if self.active_run else None)
        if parent:
            all_tags["mlflow.parentRunId"] = parent
        run = self.mlflow.create_run(self.experiment_id, tags=all_tags, run_name=name or run_name)
        tracked = TrackedRun(self, run.info.run_id, run.info.run_name)
        self._active.append(tracked)
        return tracked

    def end_run(self, run_id: str | None = None, status: str = "FINISHED") -> None:
        """End `run_id` (the active run by default)."""
        run_id = run_id or self._run_id(None, "end_run")
        self.mlflow.set_terminated(run_id, status)
        self._active = [r for r in self._active if r.run_id != run_id]

    def log_params(
        self, run_or_params: str | Mapping[str, Any], params: Mapping[str, Any] | None = None
    ) -> None:
        """`log_params({...})` on the active run, or `log_params(run_id, {...})`. Nested dicts
        become dot keys, as pipeline runs log their configs."""
        from mlflow.entities import Param

        from cursus.mlops.tracking import PARAMS_PER_BATCH, flatten

        run_id, values = self._run_and_values(run_or_params, params, "log_params")
        items = [Param(k, v) for k, v in sorted(flatten(dict(values)).items())]
        for start in range(0, len(items), PARAMS_PER_BATCH):
            self.mlflow.log_batch(run_id, params=items[start : start + PARAMS_PER_BATCH])

    def log_metrics(
        self,
        run_or_metrics: str | Mapping[str, float],
        metrics: Mapping[str, float] | None = None,
        step: int = 0,
    ) -> None:
        """`log_metrics({...}, step=N)` on the active run, or `log_metrics(run_id, {...})`."""
        from mlflow.entities import Metric

        run_id, values = self._run_and_values(run_or_metrics, metrics, "log_metrics")
        now = int(time.time() * 1000)
        items = [Metric(k, _number(k, v), now, step) for k, v in sorted(values.items())]
        for start in range(0, len(items), 1000):
            self.mlflow.log_batch(run_id, metrics=items[start : start + 1000])

    def log_hardware_metrics(self, run_id: str | None = None, step: int = 0) -> dict[str, float]:
        """This process's CPU time and utilisation, resident memory, the machine's memory use, and
        GPU memory when torch uses CUDA or MPS; logged as `hardware.*` and returned."""
        values = hardware_snapshot()
        self.log_metrics(
            self._run_id(run_id, "log_hardware_metrics"),
            {HARDWARE_PREFIX + k: v for k, v in values.items()},
            step=step,
        )
        return values

    def log_apple_silicon_metrics(
        self,
        metrics: Mapping[str, float] | None = None,
        run_id: str | None = None,
        step: int = 0,
    ) -> dict[str, float]:
        """Hardware metrics of a run on a Mac: the values given (e.g. {"mps_util": 87.5}) and,
        on Apple hardware, what this process can read (MPS memory when torch uses it, the
        thermal state, ANE power when running as root), logged as `apple_silicon.*`; with the
        process's `hardware.*` snapshot. Returns every value logged, by its logged name."""
        run_id = self._run_id(run_id, "log_apple_silicon_metrics")
        values = {APPLE_PREFIX + k: _number(k, v) for k, v in (metrics or {}).items()}
        values.update({APPLE_PREFIX + k: v for k, v in apple_silicon_snapshot().items()})
        values.update({HARDWARE_PREFIX + k: v for k, v in hardware_snapshot().items()})
        self.log_metrics(run_id, values, step=step)
        return values

    def _run_id(self, run_id: str | None, call: str) -> str:
        if run_id:
            return run_id
        if self.active_run is None:
            raise MLOpsError(
                f"{call}: no run is active; call it inside `with client.start_run(...):` or "
                "pass a run id"
            )
        return self.active_run.run_id

    def _run_and_values(
        self, first: str | Mapping[str, Any], second: Mapping[str, Any] | None, call: str
    ) -> tuple[str, Mapping[str, Any]]:
        if isinstance(first, str):
            if second is None:
                raise MLOpsError(f"{call}({first!r}) has no values; {call}(run_id, {{...}})")
            return first, second
        if second is not None:
            raise MLOpsError(f"{call} takes a dict of values, or a run id and a dict")
        if not isinstance(first, Mapping):
            raise MLOpsError(f"{call} takes a dict of values, not {type(first).__name__}")
        return self._run_id(None, call), first

    # ------------------------------------------------------------------ registry

    def log_model(
        self,
        model: Any,
        name: str,
        run_id: str | None = None,
        metrics: dict[str, Any] | None = None,
        *,
        features: list[str] | None = None,
        problem_type: str | None = None,
        outputs: str = "logits",
    ) -> dict[str, Any]:
        """Register `model` as a new version of `<project>.<name>` with the alias `candidate`,
        linked to `run_id` (the active run by default, if any).

        `model` is a packaged model (a model.tar.gz or a folder holding one) or a model in memory:
        a fitted scikit-learn estimator, an XGBoost or LightGBM model, or a PyTorch module, which
        is packaged first with the serving code pipeline models ship (`cursus.mlops.models`;
        `features`, `problem_type` and `outputs` are for models that cannot say).
        """
        from cursus.mlops.registry import register_packaged_model

        run_id = run_id or (self.active_run.run_id if self.active_run else None)
        lineage = {"run_id": run_id, "project": self.project.name}
        with tempfile.TemporaryDirectory(prefix="cursus-log-model-") as tmp:
            if isinstance(model, str | Path):
                path: Path = Path(model)
            else:
                from cursus.mlops.models import framework_of, package_model

                path = package_model(
                    model, tmp, features=features, problem_type=problem_type, outputs=outputs
                )
                lineage["framework"] = framework_of(model)
            return register_packaged_model(
                path,
                self.project.model_name(name),
                self.project.registry_uri,
                metrics=metrics,
                lineage=lineage,
                mlflow_run_id=run_id,
                experiment=self.project.experiment,
            )

    # ------------------------------------------------------------------ data and serving

    def dvc_add(self, path: str | Path) -> dict[str, Any]:
        from cursus.mlops import data

        return data.dvc_add(self.project, path)

    def dvc_push(self) -> dict[str, Any]:
        from cursus.mlops import data

        return data.dvc_push(self.project)

    def dvc_pull(self) -> dict[str, Any]:
        from cursus.mlops import data

        return data.dvc_pull(self.project)

    def deploy_model(
        self,
        model_ref: str,
        version: str | int | None = None,
        port: int | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Serve a registered model on loopback in the background: `model_ref` is NAME,
        NAME@ALIAS or NAME:VERSION of this project (or a model.tar.gz path); `version` picks one
        (3, "3", "v3" and "v3.0" mean version 3; an alias name means that alias)."""
        from cursus.mlops import serving

        return serving.deploy_model(
            self.project, serving.versioned_ref(model_ref, version), port=port, name=name
        )

    def list_deployments(self) -> list[dict[str, Any]]:
        from cursus.mlops import serving

        return serving.list_deployments(self.project)

    def stop_deployment(self, name: str) -> dict[str, Any]:
        from cursus.mlops import serving

        return serving.stop_deployment(self.project, name)


def _number(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise MLOpsError(f"metric {name!r} is {value!r}, not a number") from None


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


# ---------------------------------------------------------------------- Apple silicon

THERMAL_STATES = ("nominal", "fair", "serious", "critical")  # NSProcessInfo.thermalState


def on_apple_silicon() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"


def apple_silicon_snapshot() -> dict[str, float]:
    """What can be read without extra packages on Apple hardware (nothing elsewhere): MPS memory
    when torch uses MPS, the thermal state (0 nominal .. 3 critical, from pyobjc when installed,
    else `pmset -g therm`'s CPU speed limit), and ANE/GPU power from `powermetrics` when the
    process runs as root (it refuses anyone else)."""
    if not on_apple_silicon():
        return {}
    values: dict[str, float] = {}
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.backends.mps.is_available():
                values["mps_allocated_memory_mb"] = torch.mps.current_allocated_memory() / 2**20
                values["mps_driver_memory_mb"] = torch.mps.driver_allocated_memory() / 2**20
        except Exception:  # an older torch without these calls
            pass
    values.update(_thermal_state())
    if os.geteuid() == 0:
        values.update(parse_powermetrics(_command(["powermetrics", "-n", "1", "-i", "200"])))
    return {k: round(float(v), 4) for k, v in values.items()}


def _thermal_state() -> dict[str, float]:
    try:
        from Foundation import NSProcessInfo

        return {"thermal_state": float(NSProcessInfo.processInfo().thermalState())}
    except Exception:  # no pyobjc: pmset says how far the CPU is throttled
        return parse_pmset_therm(_command(["pmset", "-g", "therm"]))


def _command(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout if done.returncode == 0 else ""


def parse_pmset_therm(text: str) -> dict[str, float]:
    """`pmset -g therm` lines such as "CPU_Speed_Limit = 100" as cpu_speed_limit_percent etc."""
    values = {}
    for key, value in re.findall(r"^\s*(CPU_\w+)\s*=\s*(\d+)", text, flags=re.MULTILINE):
        name = key.lower() + ("_percent" if key.endswith("_Limit") else "")
        values[name] = float(value)
    return values


def parse_powermetrics(text: str) -> dict[str, float]:
    """ "ANE Power: 12 mW", "GPU Power: 40 mW", "CPU Power: 900 mW" as ane_power_mw etc."""
    return {
        f"{unit.lower()}_power_mw": float(value)
        for unit, value in re.findall(r"^(ANE|GPU|CPU) Power:\s*([\d.]+)\s*mW", text, re.M)
    }
