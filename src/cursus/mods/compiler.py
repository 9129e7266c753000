"""The MODS compiler: the standard compiler plus a MODS-decorated template class.

MODS' decorator builds the decorated class with a metaclass of its own, which conflicts with
`ABCMeta` (our templates are ABCs) and cannot be applied to an instance at all. So the compiler
builds a plain class (metaclass `type`) that holds a DynamicPipelineTemplate, gives it its final
name and module, applies the decorator to that class, and only then instantiates it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cursus.api.dag import PipelineDAG
from cursus.core.compiler import PipelineDAGCompiler
from cursus.core.config_file import dump_configs
from cursus.core.template import DynamicPipelineTemplate

GENERATED_MODULE = "cursus.mods.generated"


def mods_decorator() -> tuple[Callable[..., Callable[[type], type]], bool]:
    """The real `mods` MODSTemplate when importable, else Cursus' own; and which one it is."""
    try:
        from mods.mods_template import MODSTemplate  # type: ignore[import-not-found]

        return MODSTemplate, True
    except ImportError:
        from cursus.mods.template import MODSTemplate as OwnMODSTemplate

        return OwnMODSTemplate, False


def template_class_name(pipeline_name: str) -> str:
    """'xgboost-e2e' -> 'XgboostE2eTemplate': a valid, stable Python class name."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", pipeline_name) if w]
    name = "".join(w[:1].upper() + w[1:] for w in words) or "Pipeline"
    if name[0].isdigit():
        name = "P" + name
    return f"{name}Template"


def make_template_class(
    dag: PipelineDAG, config_path: Path, name: str, module: str, digests: dict[str, str]
) -> type:
    """A plain class (no ABCMeta) with MODS' constructor contract, delegating to a DynamicPipelineTemplate."""

    def __init__(
        self: Any, sagemaker_session: Any = None, role: str | None = None, **options: Any
    ) -> None:
        self._template = DynamicPipelineTemplate(
            dag, config_path, sagemaker_session=sagemaker_session, role=role, **options
        )

    def generate_pipeline(self: Any) -> Any:
        return self._template.generate_pipeline()

    def __getattr__(self: Any, item: str) -> Any:
        template = self.__dict__.get("_template")
        if template is None:
            raise AttributeError(item)
        return getattr(template, item)

    return type(
        name,
        (),
        {
            "__module__": module,
            "__qualname__": name,
            "__doc__": f"Pipeline template for {dag.description or name}.",
            "__init__": __init__,
            "generate_pipeline": generate_pipeline,
            "__getattr__": __getattr__,
            "_cursus_dag_digest": digests["dag"],
            "_cursus_config_digest": digests["config"],
            "_cursus_framework": digests.get("framework", ""),
        },
    )


class MODSPipelineDAGCompiler(PipelineDAGCompiler):
    """Compiles DAGs into MODS-decorated templates and their pipelines."""

    def __init__(
        self,
        config_path: str | Path,
        sagemaker_session: Any = None,
        role: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.template_module = kwargs.pop("template_module", GENERATED_MODULE)
        super().__init__(config_path, sagemaker_session=sagemaker_session, role=role, **kwargs)

    def create_decorated_class(
        self,
        dag: PipelineDAG | None = None,
        author: str | None = None,
        version: str | None = None,
        description: str | None = None,
    ) -> type:
        if dag is None:
            dag = self._last_dag()
        configs = self.load_configs(dag)
        base = next(iter(configs.values()))
        author = author if author is not None else base.author
        version = version if version is not None else base.pipeline_version
        description = (
            description
            if description is not None
            else (base.pipeline_description or dag.description)
        )
        digests = {
            "dag": dag.digest,
            "config": hashlib.sha256(dump_configs(configs).encode()).hexdigest(),
            "framework": trained_framework(dag),
        }
        plain = make_template_class(
            dag,
            self.config_path,
            template_class_name(base.pipeline_name),
            self.template_module,
            digests,
        )
        decorator, _ = mods_decorator()
        self._dag = dag
        return decorator(author=author, version=version, description=description)(plain)

    def create_template(self, dag: PipelineDAG, **kwargs: Any) -> Any:
        """An instance of the MODS-decorated class (the decorator is applied to the class first)."""
        cls = self.create_decorated_class(dag)
        return cls(**self.create_template_params(dag, **kwargs))

    def compile(self, dag: PipelineDAG, target: str = "sagemaker", **kwargs: Any) -> Any:  # type: ignore[override]
        if target == "plan":
            return self.compile_to_plan(dag)
        return self.create_template(dag, **kwargs).generate_pipeline()

    def _last_dag(self) -> PipelineDAG:
        dag = getattr(self, "_dag", None)
        if dag is None:
            from cursus.errors import ConfigError

            raise ConfigError("create_decorated_class() needs a dag the first time it is called")
        return dag


def trained_framework(dag: PipelineDAG) -> str:
    """The framework(s) the DAG's training steps train with, from their specs ("" when none)."""
    from cursus.steps.library import step_library

    library = step_library()
    specs = [library.get(library.split_node_name(node)[0]).spec for node in dag.nodes]
    return ",".join(sorted({s.framework for s in specs if s.job_kind == "training"}))


def compile_mods_dag_to_pipeline(
    dag: PipelineDAG,
    config_path: str | Path,
    sagemaker_session: Any = None,
    role: str | None = None,
    **kwargs: Any,
) -> Any:
    """Compile `dag` into a SageMaker pipeline through a MODS-decorated template."""
    return MODSPipelineDAGCompiler(
        config_path, sagemaker_session=sagemaker_session, role=role, **kwargs
    ).compile(dag)
