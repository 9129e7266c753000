"""The MODS compiler decorates a plain class, so MODS' metaclass never meets ABCMeta."""

from abc import ABCMeta
from pathlib import Path

import pytest

from cursus.api.loading import load_dag
from cursus.core.template import DynamicPipelineTemplate, PipelineTemplateBase
from cursus.mods.compiler import MODSPipelineDAGCompiler, mods_decorator, template_class_name
from cursus.mods.registry import TemplateRegistryReader


def test_naive_decoration_fails_with_the_metaclass_conflict(
    stand_in_mods: None, e2e_config: Path
) -> None:
    from mods.mods_template import MODSTemplate

    decorate = MODSTemplate(author="a", version="1.0.0", description="d")
    assert isinstance(DynamicPipelineTemplate, ABCMeta)
    with pytest.raises(TypeError, match="metaclass conflict"):
        decorate(DynamicPipelineTemplate)
    instance = DynamicPipelineTemplate(load_dag("xgboost_e2e"), e2e_config)
    with pytest.raises(TypeError, match="metaclass conflict"):
        decorate(instance)  # type: ignore[arg-type]


def test_compiler_way_works_with_the_real_style_decorator(
    stand_in_mods: None, e2e_config: Path
) -> None:
    _decorator, is_real = mods_decorator()
    assert is_real, "the stand-in mods package must be picked up when importable"
    compiler = MODSPipelineDAGCompiler(e2e_config)
    dag = load_dag("xgboost_e2e")
    cls = compiler.create_decorated_class(dag)
    assert type(cls).__name__ == "ModsMeta"
    assert cls.__name__ == "XgbE2eTemplate" and cls.extract_name() == "XgbE2eTemplate"
    assert cls.__module__ == "cursus.mods.generated"
    assert (cls.extract_author(), cls.extract_version(), cls.extract_description()) == (
        "ml-team",
        "1.2.0",
        "XGBoost end to end",
    )
    from mods.mods_template import extract_template_list

    assert extract_template_list()[-1] is cls
    template = cls(sagemaker_session=None)
    plan = template.compile_plan()
    assert next(s.name for s in plan.steps) == "DataLoading_training"
    assert isinstance(template._template, PipelineTemplateBase)


def test_own_decorator_registers_and_overrides_metadata(
    registry_path: Path, e2e_config: Path
) -> None:
    _decorator, is_real = mods_decorator()
    assert not is_real
    compiler = MODSPipelineDAGCompiler(e2e_config)
    dag = load_dag("xgboost_e2e")
    cls = compiler.create_decorated_class(
        dag, author="someone", version="2.0.0", description="custom"
    )
    assert (cls.extract_author(), cls.extract_version(), cls.extract_description()) == (
        "someone",
        "2.0.0",
        "custom",
    )
    info = TemplateRegistryReader(registry_path).get("XgbE2eTemplate")
    assert info is not None
    assert (info.author, info.version, info.framework) == ("someone", "2.0.0", "xgboost")
    assert len(info.dag_digest) == 64 and len(info.config_digest) == 64
    template = compiler.create_template(dag)
    assert template.compile_plan().pipeline["pipeline_name"] == "xgb-e2e"


def test_same_version_with_another_dag_is_refused(registry_path: Path, e2e_config: Path) -> None:
    from cursus.errors import CursusError

    compiler = MODSPipelineDAGCompiler(e2e_config)
    compiler.create_decorated_class(load_dag("xgboost_e2e"))
    compiler.create_decorated_class(load_dag("xgboost_e2e"))  # same DAG again: fine
    smaller = load_dag("xgboost_simple")
    with pytest.raises(CursusError, match="bump the version"):
        compiler.create_decorated_class(smaller)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"version": "1.0"}, "version"),
        ({"version": "latest"}, "version"),
        ({"author": ""}, "author"),
        ({"description": "  "}, "description"),
    ],
)
def test_bad_metadata_names_the_field(
    registry_path: Path, e2e_config: Path, kwargs: dict, field: str
) -> None:
    from cursus.errors import ConfigError

    with pytest.raises(ConfigError, match=f"'{field}'"):
        MODSPipelineDAGCompiler(e2e_config).create_decorated_class(
            load_dag("xgboost_e2e"), **kwargs
        )


def test_own_decorator_checks_the_template_contract(registry_path: Path) -> None:
    from cursus.errors import ConfigError
    from cursus.mods.template import MODSTemplate

    decorate = MODSTemplate(author="a", version="1.0.0", description="d")

    class NoGenerate:
        def __init__(self, sagemaker_session=None) -> None: ...

    class NoSession:
        def __init__(self, role=None) -> None: ...

        def generate_pipeline(self) -> None: ...

    with pytest.raises(ConfigError, match="generate_pipeline"):
        decorate(NoGenerate)
    with pytest.raises(ConfigError, match="sagemaker_session"):
        decorate(NoSession)
    with pytest.raises(ConfigError, match="decorates a class"):
        decorate(NoSession())  # type: ignore[arg-type]


def test_class_names_are_valid_python() -> None:
    assert template_class_name("xgboost-e2e") == "XgboostE2eTemplate"
    assert template_class_name("3d-model") == "P3dModelTemplate"
    assert template_class_name("---") == "PipelineTemplate"


def test_a_dag_node_without_config_is_named(
    registry_path: Path, tmp_path: Path, e2e_config: Path
) -> None:
    from cursus.api.dag import PipelineDAG
    from cursus.errors import CursusError

    dag = load_dag("xgboost_e2e")
    bigger = PipelineDAG([*dag.nodes, "XGBoostModelEval_training"], dag.edges)
    with pytest.raises(CursusError, match="XGBoostModelEval_training"):
        MODSPipelineDAGCompiler(e2e_config).create_decorated_class(bigger)


def test_standard_and_mods_compilers_share_the_template_api(
    registry_path: Path, e2e_config: Path
) -> None:
    from cursus.core.compiler import DynamicPipelineTemplate as Exported
    from cursus.core.compiler import PipelineDAGCompiler

    dag = load_dag("xgboost_e2e")
    standard = PipelineDAGCompiler(e2e_config, role="arn:aws:iam::123456789012:role/Other")
    params = standard.create_template_params(dag, pipeline_parameters={"KmsKeyId": "k"})
    assert params["role"].endswith("role/Other") and params["pipeline_parameters"] == {
        "KmsKeyId": "k"
    }
    template = standard.create_template(dag)
    assert isinstance(template, Exported) and isinstance(template, PipelineTemplateBase)
    mods = MODSPipelineDAGCompiler(e2e_config, role="arn:aws:iam::123456789012:role/Other")
    assert mods.create_template_params(dag) == standard.create_template_params(dag)
    mods_template = mods.create_template(dag)
    assert mods_template.compile_plan().to_json() == template.compile_plan().to_json()
    assert mods_template.extract_version() == "1.2.0"
