"""Step arguments checked against SageMaker's API request shapes (botocore's model): what the
service would refuse is refused at compile time and at start, and nothing the SDK writes is."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _sagemaker_support import steps_by_name
from click.testing import CliRunner

from cursus.backends.sagemaker import SageMakerConfigError, shapes, upsert
from cursus.backends.sagemaker import start_pipeline as start
from cursus.backends.sagemaker.aws import check_start
from cursus.backends.sagemaker.checks import check_definition
from cursus.cli.main import cli
from cursus.errors import CursusError, ValidationFailed
from cursus.targets import compile_dag

REGISTER = "Registration-RegisterModel"
ALLOWED = "Approved, Rejected, PendingManualApproval"
S3_MODEL = "s3://replace-with-your-bucket/models/xgboost/model.tar.gz"


@pytest.fixture(scope="module")
def catalog_definitions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every catalog pipeline compiled once from its sample config (MODS twins register their
    templates in a registry of this module's own)."""
    from cursus.backends.sagemaker.build import compilation_of
    from cursus.pipeline_catalog import create_pipeline_from_catalog, write_sample_config
    from cursus.pipeline_catalog.index import pipeline_ids

    root = tmp_path_factory.mktemp("catalog")
    patch = pytest.MonkeyPatch()
    patch.setenv("CURSUS_TEMPLATE_REGISTRY", str(root / "registry" / "templates.db"))
    patch.delenv("CURSUS_MODEL_URI", raising=False)
    try:
        definitions = {}
        for pipeline_id in pipeline_ids():
            config = write_sample_config(pipeline_id, root / f"{pipeline_id}.json", S3_MODEL)
            # sample configs read the bundled sample: a demo, compiled as one
            pipeline = create_pipeline_from_catalog(pipeline_id, config, allow_sample_data=True)
            definitions[pipeline_id] = compilation_of(pipeline).definition_dict()
        return definitions
    finally:
        patch.undo()


def test_every_catalog_definition_passes_clean(
    catalog_definitions: dict[str, dict[str, Any]],
) -> None:
    assert len(catalog_definitions) >= 16
    found = {
        pipeline_id: [str(p) for p in shapes.check_steps(definition)]
        for pipeline_id, definition in catalog_definitions.items()
    }
    assert found == {pipeline_id: [] for pipeline_id in catalog_definitions}
    kinds = {s["Type"] for d in catalog_definitions.values() for s in d["Steps"]}
    assert kinds == {"Processing", "Training", "Model", "RegisterModel"}


# ---------------------------------------------------------------- one test per rule kind


def _problems(definitions: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> list[Any]:
    definition = copy.deepcopy(definitions["xgboost_e2e"])
    change(steps_by_name(definition))
    return shapes.check_steps(definition, "xgboost-e2e")


def _args(steps: dict[str, Any], name: str) -> dict[str, Any]:
    return steps[name]["Arguments"]


@pytest.mark.parametrize(
    ("change", "rule", "line"),
    [
        (
            lambda s: _args(s, "XGBoostTraining").pop("RoleArn"),
            "required",
            "XGBoostTraining: RoleArn is missing; CreateTrainingJob requires it: add RoleArn",
        ),
        (
            lambda s: _args(s, "XGBoostTraining")["ResourceConfig"].update(VolumeSizeInGB="30"),
            "type",
            "XGBoostTraining: ResourceConfig.VolumeSizeInGB is '30'; CreateTrainingJob takes an "
            "integer: write config field volume_size_gb as an integer",
        ),
        (
            lambda s: _args(s, REGISTER).update(SkipModelValidation="Some"),
            "enum",
            f"{REGISTER}: SkipModelValidation is 'Some'; CreateModelPackage takes one of All, None",
        ),
        (
            lambda s: _args(s, "Package")["AppSpecification"].update(ImageUri="i" * 300),
            "length",
            "Package: AppSpecification.ImageUri is 300 characters long; CreateProcessingJob takes "
            "at most 255: shorten it to 255 characters or fewer",
        ),
        (
            lambda s: _args(s, REGISTER).update(ModelPackageGroupName="my group"),
            "pattern",
            f"{REGISTER}: ModelPackageGroupName is 'my group'; CreateModelPackage takes only "
            "values matching",
        ),
        (
            lambda s: _args(s, "Payload")["ProcessingResources"]["ClusterConfig"].update(
                InstanceCount=0
            ),
            "range",
            "Payload: ProcessingResources.ClusterConfig.InstanceCount is 0; CreateProcessingJob "
            "takes 1 to 100: change config field instance_count",
        ),
        (
            lambda s: _args(s, "XGBoostTraining")["ResourceConfig"].update(InstanceTyp="x"),
            "member",
            "XGBoostTraining: ResourceConfig.InstanceTyp is set; ResourceConfig of "
            "CreateTrainingJob has no member InstanceTyp: rename it to InstanceType",
        ),
    ],
)
def test_each_rule_kind_is_one_line_naming_step_member_and_fix(
    definitions: dict[str, Any], change: Any, rule: str, line: str
) -> None:
    found = _problems(definitions, change)
    assert [p.rule for p in found] == [rule]
    assert str(found[0]).startswith(line)
    assert "\n" not in str(found[0])


def test_every_problem_is_reported_at_once_through_the_compile_checks(
    compiled: dict[str, Any], definitions: dict[str, Any]
) -> None:
    definition = copy.deepcopy(definitions["xgboost_e2e"])
    steps = steps_by_name(definition)
    _args(steps, REGISTER)["ModelPackageDescription"] = "d" * 1100
    _args(steps, REGISTER)["ModelApprovalStatus"] = "Bogus"
    _args(steps, "XGBoostTraining").pop("RoleArn")
    problems = check_definition(definition, compiled["xgboost_e2e"].plan)
    assert len(problems) == 3
    assert any(
        p.startswith(
            f"{REGISTER}: ModelPackageDescription is 1100 characters long; CreateModelPackage takes "
            "at most 1024: shorten config field pipeline_description"
        )
        for p in problems
    )


def test_members_the_pipeline_fills_in_are_not_required(definitions: dict[str, Any]) -> None:
    steps = steps_by_name(definitions["xgboost_e2e"])
    for name, member in [
        ("Package", "ProcessingJobName"),
        ("XGBoostTraining", "TrainingJobName"),
        ("Registration-Model-CreateModel", "ModelName"),
    ]:
        assert member not in steps[name]["Arguments"]
        assert (
            member
            in shapes.request_shape(
                shapes.STEP_OPERATIONS[steps[name]["Type"]].create
            ).required_members
        )


def test_unknown_step_types_are_skipped() -> None:
    definition = {"Steps": [{"Name": "Gate", "Type": "Lambda", "Arguments": {"x": 1}}]}
    assert shapes.check_steps(definition) == []


# ---------------------------------------------------------------- expressions and patterns


def test_expressions_resolve_to_values_of_their_run_time_form() -> None:
    resolver = shapes.Resolver(
        {"Prefix": "s3://bucket/runs"}, {"Train": "Training", "Prep": "Processing"}, "my-pipe"
    )
    join = {
        "Std:Join": {
            "On": "/",
            "Values": [{"Get": "Parameters.Prefix"}, {"Get": "Execution.PipelineExecutionId"}],
        }
    }
    assert resolver.resolve(join) == f"s3://bucket/runs/{shapes.EXECUTION_ID}"
    artifacts = resolver.resolve({"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"})
    assert artifacts.startswith("s3://") and not isinstance(artifacts, shapes.RunTime)
    output = "Steps.Prep.ProcessingOutputConfig.Outputs['data'].S3Output.S3Uri"
    assert resolver.resolve({"Get": output}).startswith("s3://")
    assert resolver.resolve({"Get": "Steps.Prep.ProcessingJobStatus"}) == "InProgress"
    assert resolver.resolve({"Get": "Execution.PipelineArn"}).endswith(":pipeline/my-pipe")
    json_get = {"Std:JsonGet": {"PropertyFile": "Eval", "Path": "auc"}}
    assert isinstance(resolver.resolve(json_get), shapes.RunTime)
    with_file = {"Std:Join": {"On": "", "Values": ["s3://b/", json_get]}}
    assert isinstance(resolver.resolve(with_file), shapes.RunTime)  # never checked


def test_java_patterns_are_matched_as_sagemaker_matches_them() -> None:
    description = "[\\p{L}\\p{M}\\p{Z}\\p{S}\\p{N}\\p{P}]*"
    assert shapes.pattern_matches(description, "Größe — 100% ✓")
    assert shapes.pattern_matches(description, "two\nlines") is False  # a control character
    supplementary = "[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\t]*"
    assert shapes.pattern_matches(supplementary, "emoji 😀\t")
    assert shapes.pattern_matches("([\\p{L}\\p{N}_]*)${1,128}", "cursus_node")
    assert shapes.pattern_matches("[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", "a-b") is True
    assert shapes.pattern_matches("[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", "a b") is False
    assert shapes.pattern_matches("[a-z&&[^b]]+", "abc") is None  # untranslatable: skipped
    model = shapes.service_model()
    patterns = {model.shape_for(n).metadata.get("pattern") for n in model.shape_names} - {None}
    assert all(shapes.pattern_matches(p, "") is not None for p in patterns)


# ---------------------------------------------------------------- the three named defects


def test_a_description_over_1024_characters_fails_at_compile_time(make_config: Any) -> None:
    config = make_config("xgboost_e2e", shared={"pipeline_description": "d" * 1100})
    with pytest.raises(SageMakerConfigError) as caught:
        compile_dag("xgboost_e2e", config)
    assert (caught.value.node, caught.value.field) == ("Registration", "pipeline_description")
    assert "1100 characters long; CreateModelPackage takes at most 1024" in str(caught.value)
    assert "ModelPackageDescription" in str(caught.value)


def test_a_description_with_a_line_break_fails_naming_the_character(make_config: Any) -> None:
    config = make_config("xgboost_e2e", shared={"pipeline_description": "line one\nline two"})
    with pytest.raises(SageMakerConfigError, match=r"character 9, '\\n', is not allowed"):
        compile_dag("xgboost_e2e", config)


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The AWS operations sent over HTTP (offline S3 answers of the compile are not sent)."""
    import botocore.endpoint

    calls: list[str] = []
    send = botocore.endpoint.Endpoint._send

    def record(endpoint: Any, request: Any) -> Any:
        target = request.headers.get("X-Amz-Target") or request.url
        calls.append(target.decode() if isinstance(target, bytes) else target)
        return send(endpoint, request)

    monkeypatch.setattr(botocore.endpoint.Endpoint, "_send", record)
    yield calls


def test_cli_start_refuses_a_bogus_approval_status_without_any_aws_call(
    configs: dict[str, Path], aws_calls: list[str]
) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "sagemaker",
            "start",
            "xgboost_e2e",
            "-c",
            str(configs["xgboost_e2e"]),
            "--param",
            "ModelApprovalStatus=Bogus",
        ],
    )
    assert result.exit_code == 2, result.output
    assert aws_calls == []
    assert "parameter ModelApprovalStatus" in result.output
    assert f"one of {ALLOWED}" in result.output
    assert result.output.count("\n") == 1


def test_an_83_character_display_name_is_refused_before_any_aws_call(
    aws_calls: list[str],
) -> None:
    with pytest.raises(SageMakerConfigError) as caught:
        start("xgboost-e2e", display_name="x" * 83)
    assert caught.value.field == "display_name"
    assert "83 characters long; StartPipelineExecution takes at most 82" in str(caught.value)
    with pytest.raises(SageMakerConfigError, match="field 'pipeline name'"):
        start("not a pipeline name")
    assert aws_calls == []


def test_start_by_name_checks_values_against_the_stored_definition(
    aws: str, compiled: dict[str, Any], aws_calls: list[str]
) -> None:
    import boto3

    upsert(compiled["xgboost_e2e"])
    sm = boto3.client("sagemaker")
    before = sm.list_pipeline_executions(PipelineName="xgboost-e2e")["PipelineExecutionSummaries"]
    aws_calls.clear()
    with pytest.raises(SageMakerConfigError) as caught:
        start("xgboost-e2e", parameters={"ModelApprovalStatus": "approved"})
    assert str(caught.value) == (
        "xgboost-e2e: field 'parameter ModelApprovalStatus' is 'approved', but step "
        f"{REGISTER} passes it as ModelApprovalStatus, where CreateModelPackage takes one of "
        f"{ALLOWED}: set parameter ModelApprovalStatus to 'Approved'"
    )
    assert aws_calls == ["SageMaker.DescribePipeline"]  # read the definition; nothing started
    after = sm.list_pipeline_executions(PipelineName="xgboost-e2e")["PipelineExecutionSummaries"]
    assert after == before  # (moto keeps executions of earlier modules' servers)
    started = start(
        "xgboost-e2e", parameters={"ModelApprovalStatus": "Approved"}, display_name="x" * 82
    )
    assert started["execution_arn"]


def test_start_values_are_checked_as_the_steps_use_them(definitions: dict[str, Any]) -> None:
    definition = copy.deepcopy(definitions["xgboost_e2e"])
    with pytest.raises(SageMakerConfigError) as caught:
        check_start("xgboost-e2e", {"ExecutionTempDir": "bucket/runs"}, None, definition)
    message = str(caught.value)
    assert "field 'parameter ExecutionTempDir' is 'bucket/runs'" in message
    assert f"(making it 'bucket/runs/{shapes.EXECUTION_ID}/DataLoading_training/data')" in message
    assert "more member(s) read it too" in message
    definition["Parameters"].append({"Name": "Workers", "Type": "Integer", "DefaultValue": 1})
    with pytest.raises(ValidationFailed) as several:
        check_start(
            "xgboost-e2e", {"Workers": "two", "ModelApprovalStatus": "Bogus"}, None, definition
        )
    assert [e.field for e in several.value.problems] == [
        "parameter Workers",
        "parameter ModelApprovalStatus",
    ]
    check_start("xgboost-e2e", {"KmsKeyId": "alias/key", "Workers": "2"}, "run-1", definition)


def test_start_errors_are_cursus_errors_not_tracebacks() -> None:
    with pytest.raises(CursusError) as caught:
        check_start("p", {"Name With Spaces": "v"})
    assert caught.value.exit_code == 2
    assert "parameter Name With Spaces (its name)" in str(caught.value)


def test_definition_checks_take_milliseconds(definitions: dict[str, Any]) -> None:
    import time

    shapes.check_steps(definitions["xgboost_e2e"])  # the service model, parsed once
    began = time.perf_counter()
    for _ in range(5):
        shapes.check_steps(definitions["xgboost_e2e"])
    assert (time.perf_counter() - began) / 5 < 0.1
    assert json.dumps(definitions["xgboost_e2e"])  # unchanged, still JSON
