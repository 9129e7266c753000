"""Pipeline templates: the object that owns "configs + DAG -> pipeline".

`PipelineTemplateBase` is the abstract shape MODS and the compilers expect: constructed with a
config path (and optionally a SageMaker session and role), it produces a pipeline with
`generate_pipeline()`. `DynamicPipelineTemplate` is the one built from any DAG and config.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from cursus.api.dag import PipelineDAG
from cursus.core.config_file import Configs, load_configs
from cursus.plan import Plan


class PipelineTemplateBase(ABC):
    """Owns one DAG and its configs; subclasses say which DAG."""

    def __init__(
        self,
        config_path: str | Path,
        sagemaker_session: Any = None,
        role: str | None = None,
        **options: Any,
    ) -> None:
        self.config_path = Path(config_path)
        self.sagemaker_session = sagemaker_session
        self.role = role
        self.options = options
        self.dag = self._create_pipeline_dag()
        self.configs: Configs = load_configs(self.config_path, self.dag)

    @abstractmethod
    def _create_pipeline_dag(self) -> PipelineDAG:
        """The DAG this template builds."""

    def base_config(self) -> Any:
        return next(iter(self.configs.values()))

    def compile_plan(self) -> Plan:
        from cursus.core.planner import compile_plan

        return compile_plan(self.dag, self.config_path)

    def generate_pipeline(self) -> Any:
        """A `sagemaker.workflow.pipeline.Pipeline` for this DAG and config (needs the sagemaker
        extra): the SageMaker target's `generate_pipeline` of the Plan."""
        from cursus import targets

        built = targets.build(
            self.compile_plan(),
            "sagemaker",
            allow_sample_data=bool(self.options.get("allow_sample_data")),
            role=self.role,
            parameters=self.options.get("pipeline_parameters"),
        )
        return built.pipeline

    # digests identify what a template builds, for the template registry
    def dag_digest(self) -> str:
        return self.dag.digest

    def config_digest(self) -> str:
        from cursus.core.config_file import dump_configs

        return hashlib.sha256(dump_configs(self.configs).encode()).hexdigest()


class DynamicPipelineTemplate(PipelineTemplateBase):
    """A template for any DAG: the DAG is given, not defined by a subclass."""

    def __init__(
        self,
        dag: PipelineDAG,
        config_path: str | Path,
        sagemaker_session: Any = None,
        role: str | None = None,
        **options: Any,
    ) -> None:
        self._dag = dag
        super().__init__(config_path, sagemaker_session=sagemaker_session, role=role, **options)

    def _create_pipeline_dag(self) -> PipelineDAG:
        return self._dag
