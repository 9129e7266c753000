"""The MODS design document's examples, run as a new user copies them, on a config from
`cursus config init`."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from cursus.api.dag import PipelineDAG
from cursus.api.loading import load_dag
from cursus.cli.main import cli
from cursus.mods.registry import TemplateRegistryReader

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


@pytest.fixture
def new_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry_path: Path) -> Path:
    """A folder with the config.json `cursus config init` writes, as the working directory."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        cli,
        [
            "config", "init", "xgboost_e2e", "-o", "config.json",
            "--set", f"role={ROLE}", "--set", "bucket=cursus-test-bucket",
            "--set", "data_source=s3://cursus-test-bucket/data/",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return tmp_path


def offline_session():
    import boto3
    from sagemaker.workflow.pipeline_context import PipelineSession

    return PipelineSession(boto_session=boto3.Session(region_name="us-east-1"))


def test_advanced_usage_as_written(new_user: Path, registry_path: Path) -> None:
    from cursus.mods.compiler import MODSPipelineDAGCompiler

    dag = load_dag("xgboost_e2e")
    session, role, value = offline_session(), ROLE, 42

    compiler = MODSPipelineDAGCompiler(
        config_path="config.json", sagemaker_session=session, role=role
    )
    decorated_class = compiler.create_decorated_class(
        author="Data Science Team", version="2.1.0", description="Production ML Pipeline"
    )
    template = compiler.create_template(dag, custom_param=value)

    assert type(template).__name__ == decorated_class.__name__ == "XgboostE2eTemplate"
    assert (
        template.extract_author(),
        template.extract_version(),
        template.extract_description(),
    ) == ("Data Science Team", "2.1.0", "Production ML Pipeline")
    assert template.sagemaker_session is session and template.role == role
    assert template.options["custom_param"] == 42
    pipeline = template.generate_pipeline()
    assert pipeline.name == "xgboost-e2e"
    assert '"RoleArn": "' + ROLE in pipeline.definition()
    info = TemplateRegistryReader(registry_path).get("XgboostE2eTemplate", "2.1.0")
    assert info is not None and info.author == "Data Science Team"
    assert info.dag_digest == dag.digest, "the DAG-less registration is completed by the DAG's"

    # the class decorated without a DAG takes one when it is built
    built = decorated_class(dag, sagemaker_session=session, role=role)
    assert built.compile_plan().to_json() == template.compile_plan().to_json()
    from cursus.errors import ConfigError

    with pytest.raises(ConfigError, match=r"decorated without a DAG; build it with one"):
        decorated_class(sagemaker_session=session, role=role)


def test_simple_compilation_as_written_with_a_dag_built_in_code(new_user: Path) -> None:
    from cursus.mods.compiler import compile_mods_dag_to_pipeline

    bundled = load_dag("xgboost_e2e")
    my_dag = PipelineDAG(bundled.nodes, bundled.edges)  # no description, as users build them
    assert not my_dag.description
    session, role = offline_session(), ROLE

    pipeline = compile_mods_dag_to_pipeline(
        dag=my_dag, config_path="config.json", sagemaker_session=session, role=role
    )

    assert pipeline.name == "xgboost-e2e"
    info = TemplateRegistryReader().get("XgboostE2eTemplate", "1.0.0")
    assert info is not None
    assert (info.author, info.description) == ("cursus-user", "Cursus pipeline xgboost-e2e")


def test_metadata_kept_for_later_templates_and_overridden_per_call(new_user: Path) -> None:
    from cursus.mods.compiler import MODSPipelineDAGCompiler

    dag = load_dag("xgboost_e2e")
    compiler = MODSPipelineDAGCompiler("config.json", role=ROLE)
    compiler.create_decorated_class(author="Team A")
    first = compiler.create_template(dag)
    assert (first.extract_author(), first.extract_version()) == ("Team A", "1.0.0")
    second = compiler.create_template(dag, version="1.1.0")
    assert (second.extract_author(), second.extract_version()) == ("Team A", "1.1.0")
    assert "version" not in second.options
