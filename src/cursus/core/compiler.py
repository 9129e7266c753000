"""The compiler users hold: `PipelineDAGCompiler`, tied to one config file.

It is a facade: the Plan comes from `cursus.core.planner.compile_plan` (which ends at the Plan),
and a target of `cursus.targets` takes the Plan where it goes. `compile(dag)` keeps the design
documents' meaning: a `sagemaker.workflow.pipeline.Pipeline`, built through the template.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cursus.api.dag import PipelineDAG
from cursus.core.config_file import Configs, load_configs
from cursus.core.planner import ValidationReport, compile_plan, validate_files
from cursus.core.template import DynamicPipelineTemplate
from cursus.plan import Plan

__all__ = [
    "DynamicPipelineTemplate",
    "PipelineDAGCompiler",
    "ValidationReport",
    "compile_dag_to_pipeline",
]


class PipelineDAGCompiler:
    """Compiles DAGs against one config file."""

    def __init__(
        self,
        config_path: str | Path,
        sagemaker_session: Any = None,
        role: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.config_path = Path(config_path)
        self.sagemaker_session = sagemaker_session
        self.role = role
        self.options = kwargs

    def load_configs(self, dag: PipelineDAG | None = None) -> Configs:
        return load_configs(self.config_path, dag)

    def validate_dag_compatibility(self, dag: PipelineDAG) -> ValidationReport:
        """Every problem of the config file and of the DAG with it, at once."""
        return validate_files(dag, self.config_path)

    def compile_to_plan(self, dag: PipelineDAG) -> Plan:
        return compile_plan(dag, self.config_path)

    def create_template_params(self, dag: PipelineDAG, **kwargs: Any) -> dict[str, Any]:
        """The keyword arguments the template is built with."""
        return {
            "sagemaker_session": self.sagemaker_session,
            "role": self.role,
            **self.options,
            **kwargs,
        }

    def create_template(self, dag: PipelineDAG, **kwargs: Any) -> DynamicPipelineTemplate:
        """The template that owns this DAG and config; `generate_pipeline()` builds the pipeline."""
        return DynamicPipelineTemplate(
            dag, self.config_path, **self.create_template_params(dag, **kwargs)
        )

    def compile(self, dag: PipelineDAG, target: str = "sagemaker", **kwargs: Any) -> Any:
        """ "sagemaker": a `sagemaker.workflow.pipeline.Pipeline` built offline through the
        template (the `pipeline_parameters` option sets parameter defaults); any other target
        of `cursus.targets.TARGETS` ("plan", "local", "airflow"): what that target builds from
        the Plan, with `kwargs` as its options."""
        from cursus import targets

        targets.get_target(target)
        if target == "sagemaker":
            return self.create_template(dag, **kwargs).generate_pipeline()
        options = {"allow_sample_data": bool(self.options.get("allow_sample_data")), **kwargs}
        return targets.build(self.compile_to_plan(dag), target, **options)


def compile_dag_to_pipeline(dag: PipelineDAG, config_path: str | Path, **kwargs: Any) -> Any:
    """Compile `dag` with the configs in `config_path`; see PipelineDAGCompiler.compile."""
    target = kwargs.pop("target", "sagemaker")
    return PipelineDAGCompiler(config_path, **kwargs).compile(dag, target=target)
