"""The deployment template MODS users hand-write today, as a builder: an existing model is
packaged, given sample payloads and registered (created as a SageMaker model on the way).

`DeploymentPipelineBuilder(config_path, sagemaker_session=None, role=None)` takes the config of the
catalog's deployment DAG; `generate_pipeline(model_s3_path)` gives the SageMaker pipeline and
`run(model_path)` runs the same steps here. `create_deployment_template_class()` returns the
builder decorated with MODSTemplate, its metadata from the config.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from cursus.core.config_file import Configs, load_configs
from cursus.errors import ConfigError
from cursus.pipeline_catalog.shared_dags.generic.deployment import create_dag
from cursus.plan import Plan

S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")
MODEL_NODE, MODEL_INPUT = "Package", "model_input"


def validate_model_path(path: str) -> str:
    """An s3:// URI, or an existing local model folder (the model output of a training step)."""
    if path.startswith("s3://"):
        if not S3_URI.match(path):
            raise ConfigError(f"model path {path!r} is not a valid s3:// URI (s3://bucket/prefix)")
        return path
    local = Path(path.removeprefix("file://")).expanduser()
    if not local.exists():
        raise ConfigError(
            f"model path {path!r} does not exist; give an s3:// URI or the model folder of a training run"
        )
    if not (local / "model_meta.json").is_file():
        raise ConfigError(
            f"model path {path!r} is not a model folder (no model_meta.json); give the model_output "
            "folder of an XGBoostTraining or PyTorchTraining step"
        )
    return str(local.resolve())


class DeploymentPipelineBuilder:
    """Existing model -> Package -> Payload -> Registration."""

    def __init__(
        self, config_path: str | Path, sagemaker_session: Any = None, role: str | None = None
    ) -> None:
        self.config_path = Path(config_path)
        self.sagemaker_session = sagemaker_session
        self.role = role
        self.dag = create_dag()
        self.configs: Configs = load_configs(self.config_path, self.dag)

    def configs_for(self, model_path: str) -> Configs:
        model_path = validate_model_path(model_path)
        configs = dict(self.configs)
        package = configs[MODEL_NODE]
        bindings = {**package.input_bindings, MODEL_INPUT: model_path}
        configs[MODEL_NODE] = type(package).model_validate(
            {**package.model_dump(), "input_bindings": bindings}
        )
        return configs

    def create_plan(self, model_path: str) -> Plan:
        from cursus.core.planner import compile_plan

        return compile_plan(self.dag, self.configs_for(model_path))

    def generate_pipeline(self, model_s3_path: str) -> Any:
        """The SageMaker pipeline deploying the model at `model_s3_path` (compiled offline)."""
        if not model_s3_path.startswith("s3://"):
            validate_model_path(model_s3_path)
            raise ConfigError(
                f"model path {model_s3_path!r} is local; SageMaker reads models from S3: upload it "
                "and pass the s3:// URI, or run the deployment here with run()"
            )
        from cursus.targets import build

        return build(self.create_plan(model_s3_path), "sagemaker", role=self.role).pipeline

    def run(self, model_path: str, workspace: str | Path | None = None, **options: Any) -> Any:
        """Run the deployment steps on this machine (`cursus.targets.run_plan`; options as it
        takes them: workers, use_cache, hooks, tracking, registry_uri, ...)."""
        from cursus.targets import run_plan

        return run_plan(self.create_plan(model_path), workspace=workspace, **options)


def create_deployment_template_class(
    config_path: str | Path,
    author: str | None = None,
    version: str | None = None,
    description: str | None = None,
) -> type:
    """The builder decorated with MODSTemplate (the real one when installed), named and placed
    before decoration; metadata defaults from the config's author, pipeline_version and
    pipeline_description."""
    from cursus.core.config_file import dump_configs
    from cursus.mods.compiler import mods_decorator

    dag = create_dag()
    configs = load_configs(config_path, dag)
    base = next(iter(configs.values()))
    namespace = {
        "__module__": "cursus.mods.generated",
        "__qualname__": "ModelDeploymentTemplate",
        "__doc__": DeploymentPipelineBuilder.__doc__,
        "_cursus_dag_digest": dag.digest,
        "_cursus_config_digest": hashlib.sha256(dump_configs(configs).encode()).hexdigest(),
        "_cursus_framework": str(getattr(configs["Registration"], "model_framework", "") or ""),
    }
    bound = type("ModelDeploymentTemplate", (DeploymentPipelineBuilder,), namespace)
    original_init = DeploymentPipelineBuilder.__init__

    def __init__(
        self: Any,
        sagemaker_session: Any = None,
        role: str | None = None,
        config_path: Any = config_path,
    ) -> None:
        original_init(self, config_path, sagemaker_session=sagemaker_session, role=role)

    bound.__init__ = __init__  # type: ignore[misc]
    decorator, _ = mods_decorator()
    return decorator(
        author=author if author is not None else base.author,
        version=version if version is not None else base.pipeline_version,
        description=description
        if description is not None
        else (base.pipeline_description or dag.description),
    )(bound)
