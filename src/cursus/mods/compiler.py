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
        from mods.mods_template import MODSTemplate

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

    return _template_class(name, module, digests, __init__, dag.description or name)


def _template_class(
    name: str, module: str, digests: dict[str, str], init: Callable[..., None], about: str
) -> type:
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
            "__doc__": f"Pipeline template for {about}.",
            "__init__": init,
            "generate_pipeline": generate_pipeline,
            "__getattr__": __getattr__,
            "_cursus_dag_digest": digests["dag"],
            "_cursus_config_digest": digests["config"],
            "_cursus_framework": digests.get("framework", ""),
        },
    )


class MODSPipelineDAGCompiler(PipelineDAGCompiler):
    """Compiles DAGs into MODS-decorated templates and their pipelines.

    The MODS metadata (author, version, description) comes from the base config, else from the
    arguments of the last `create_decorated_class` call: so the design documents' order works,

        decorated_class = compiler.create_decorated_class(author=..., version=..., description=...)
        template = compiler.create_template(dag, custom_param=value)

    and the template is an instance of a class decorated with that metadata.
    """

    def __init__(
        self,
        config_path: str | Path,
        sagemaker_session: Any = None,
        role: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.template_module = kwargs.pop("template_module", GENERATED_MODULE)
        super().__init__(config_path, sagemaker_session=sagemaker_session, role=role, **kwargs)
        self._dag: PipelineDAG | None = None
        self._metadata: dict[str, str] = {}

    def create_decorated_class(
        self,
        dag: PipelineDAG | None = None,
        author: str | None = None,
        version: str | None = None,
        description: str | None = None,
    ) -> type:
        """The MODS-decorated template class of `dag` (constructed with a sagemaker_session and a
        role). Without a DAG, and none given before, the class takes the DAG when it is built:
        `decorated_class(dag, sagemaker_session=..., role=...)`. Metadata given here is kept for
        later `create_template` calls."""
        given = {"author": author, "version": version, "description": description}
        self._metadata.update({k: v for k, v in given.items() if v is not None})
        dag = dag if dag is not None else self._dag
        configs = self.load_configs(dag)
        base = next(iter(configs.values()))
        metadata = {
            "author": base.author,
            "version": base.pipeline_version,
            "description": base.pipeline_description
            or (dag.description if dag is not None else "")
            or default_description(base.pipeline_name),
            **self._metadata,
        }
        digests = {
            "dag": dag.digest if dag is not None else "",
            "config": hashlib.sha256(dump_configs(configs).encode()).hexdigest(),
            "framework": trained_framework(dag) if dag is not None else "",
        }
        name = template_class_name(base.pipeline_name)
        if dag is None:
            plain = make_open_template_class(self.config_path, name, self.template_module, digests)
        else:
            plain = make_template_class(dag, self.config_path, name, self.template_module, digests)
            self._dag = dag
        decorator, _ = mods_decorator()
        return decorator(**metadata)(plain)

    def create_template(self, dag: PipelineDAG, **kwargs: Any) -> Any:
        """An instance of the MODS-decorated class of `dag` (the decorator is applied to the class
        first). `author`, `version` and `description` here set the MODS metadata; other keywords
        are template options: `allow_sample_data` and `pipeline_parameters` are used, any other is
        kept in `template.options` for subclasses to read."""
        metadata = {k: kwargs.pop(k) for k in ("author", "version", "description") if k in kwargs}
        cls = self.create_decorated_class(dag, **metadata)
        return cls(**self.create_template_params(dag, **kwargs))

    def compile(self, dag: PipelineDAG, target: str = "sagemaker", **kwargs: Any) -> Any:
        if target == "plan":
            return self.compile_to_plan(dag)
        return self.create_template(dag, **kwargs).generate_pipeline()


def default_description(pipeline_name: str) -> str:
    """What a MODS template says about itself when neither the config nor the DAG does."""
    return f"Cursus pipeline {pipeline_name}"


def make_open_template_class(
    config_path: Path, name: str, module: str, digests: dict[str, str]
) -> type:
    """Like `make_template_class`, for a DAG given when the class is built: `cls(dag, ...)`."""

    def __init__(
        self: Any,
        dag: PipelineDAG | None = None,
        sagemaker_session: Any = None,
        role: str | None = None,
        **options: Any,
    ) -> None:
        if not isinstance(dag, PipelineDAG):
            from cursus.errors import ConfigError

            raise ConfigError(
                f"{name} was decorated without a DAG; build it with one: "
                f"{name}(dag, sagemaker_session=..., role=...)"
            )
        self._template = DynamicPipelineTemplate(
            dag, config_path, sagemaker_session=sagemaker_session, role=role, **options
        )

    return _template_class(name, module, digests, __init__, "any DAG")


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
