"""Plan -> SageMaker pipeline, offline: what each job kind becomes and how it is wired."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest
from _sagemaker_support import BUCKET, BUNDLED_DAGS, ROLE, steps_by_name

from cursus.api.loading import load_dag
from cursus.backends.sagemaker import STANDARD_PARAMETERS
from cursus.backends.sagemaker.code import bundle_files, content_digest
from cursus.core.compiler import PipelineDAGCompiler, compile_dag_to_pipeline
from cursus.targets import compile_dag

SHARED_MODULES = [
    "_metrics.py",
    "_model_lightgbm.py",
    "_model_pytorch.py",
    "_model_xgboost.py",
    "_tabular.py",
]
S3_LITERAL = re.compile(r's3://[^"\\]*')


def test_every_bundled_dag_compiles_to_a_sagemaker_pipeline(compiled: dict[str, Any]) -> None:
    from sagemaker.workflow.pipeline import Pipeline

    for dag, result in compiled.items():
        assert isinstance(result.pipeline, Pipeline)
        assert result.pipeline.name == dag.replace("_", "-")
        assert json.loads(result.to_json()) == result.definition_dict()


def test_job_kinds_become_sagemaker_step_types(definitions: dict[str, Any]) -> None:
    steps = {s["Name"]: s["Type"] for s in definitions["xgboost_e2e"]["Steps"]}
    assert steps == {
        "DataLoading_training": "Processing",
        "TabularPreprocessing_training": "Processing",
        "XGBoostTraining": "Training",
        "DataLoading_calibration": "Processing",
        "TabularPreprocessing_calibration": "Processing",
        "XGBoostModelEval_calibration": "Processing",
        "ModelCalibration_calibration": "Processing",
        "Package": "Processing",
        "Payload": "Processing",
        "Registration-Model-CreateModel": "Model",
        "Registration-RegisterModel": "RegisterModel",
    }


@pytest.mark.parametrize(
    ("dag", "step", "image"),
    [
        ("xgboost_e2e", "DataLoading_training", "sagemaker-scikit-learn:1.2-1-cpu-py3"),
        ("xgboost_e2e", "XGBoostModelEval_calibration", "sagemaker-xgboost:1.7-1"),
        ("pytorch_e2e", "PyTorchModelEval_calibration", "pytorch-training:2.1-cpu-py310"),
    ],
)
def test_processors_match_the_step_framework(
    definitions: dict[str, Any], dag: str, step: str, image: str
) -> None:
    args = steps_by_name(definitions[dag])[step]["Arguments"]
    assert args["AppSpecification"]["ImageUri"].endswith(image)
    # FrameworkProcessor layout: runproc.sh runs the script from the unpacked sourcedir.tar.gz
    assert args["AppSpecification"]["ContainerEntrypoint"] == [
        "/bin/bash",
        "/opt/ml/processing/input/entrypoint/runproc.sh",
    ]
    code = {i["InputName"]: i["S3Input"] for i in args["ProcessingInputs"]}
    assert code["code"]["S3Uri"].endswith("/sourcedir.tar.gz")
    assert code["code"]["LocalPath"] == "/opt/ml/processing/input/code/"
    assert code["entrypoint"]["S3Uri"].endswith("/runproc.sh")


def test_processing_step_runs_its_own_script_with_the_shared_module(
    compiled: dict[str, Any], definitions: dict[str, Any]
) -> None:
    result = compiled["xgboost_e2e"]
    args = steps_by_name(definitions["xgboost_e2e"])["TabularPreprocessing_training"]["Arguments"]
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in args["ProcessingInputs"]}
    with tarfile.open(fileobj=io.BytesIO(result.code[inputs["code"]])) as tar:
        names = sorted(tar.getnames())
    # the folder's shared modules travel with every script; pyarrow is in the image
    assert names == [*SHARED_MODULES, "tabular_preprocessing.py"]
    runproc = result.code[inputs["entrypoint"]].decode()
    assert "tar -xzf sourcedir.tar.gz" in runproc
    assert runproc.rstrip().endswith('exec python tabular_preprocessing.py "$@"')
    assert args["AppSpecification"]["ContainerArguments"] == ["--job_type", "training"]


def test_training_uses_framework_estimators_with_our_scripts(
    compiled: dict[str, Any], definitions: dict[str, Any]
) -> None:
    for dag, step, image in (
        ("xgboost_e2e", "XGBoostTraining", "sagemaker-xgboost:1.7-1"),
        ("pytorch_e2e", "PyTorchTraining", "pytorch-training:2.1-cpu-py310"),
    ):
        args = steps_by_name(definitions[dag])[step]["Arguments"]
        assert args["AlgorithmSpecification"]["TrainingImage"].endswith(image)
        hp = args["HyperParameters"]
        plan_hp = compiled[dag].plan.step(step).job_args["hyperparameters"]
        assert {
            k: json.loads(v) for k, v in hp.items() if not k.startswith("sagemaker_")
        } == plan_hp
        entry = compiled[dag].plan.step(step).script["entry_point"]
        assert json.loads(hp["sagemaker_program"]) == entry
        source = json.loads(hp["sagemaker_submit_directory"])
        needs = ["requirements.txt"] if compiled[dag].plan.step(step).script["requirements"] else []
        with tarfile.open(fileobj=io.BytesIO(compiled[dag].code[source])) as tar:
            assert sorted(tar.getnames()) == sorted([*SHARED_MODULES, entry, *needs])
        channels = {c["ChannelName"] for c in args["InputDataConfig"]}
        assert channels == {"input_path", "preprocessing_artifacts"}
        assert args["Environment"] == {"LABEL_FIELD": "label"}
        assert "DebugHookConfig" not in args


def test_inputs_are_wired_through_step_properties_never_literal_paths(
    definitions: dict[str, Any],
) -> None:
    for dag, definition in definitions.items():
        for step in definition["Steps"]:
            args = step["Arguments"]
            for channel in args.get("InputDataConfig", []):
                assert "Get" in channel["DataSource"]["S3DataSource"]["S3Uri"], (dag, step["Name"])
            for item in args.get("ProcessingInputs", []):
                if item["InputName"] not in ("code", "entrypoint"):
                    assert not isinstance(item["S3Input"]["S3Uri"], str), (dag, step["Name"])
        # the only S3 literals are the content-addressed code objects, and the data a loading
        # node reads (its config's data_source)
        for literal in S3_LITERAL.findall(json.dumps(definition["Steps"])):
            if literal.startswith(f"s3://{BUCKET}/data/"):
                continue
            assert re.fullmatch(
                rf"s3://{BUCKET}/{dag.replace('_', '-')}/code/[0-9a-f]{{64}}/"
                r"(sourcedir\.tar\.gz|runproc\.sh)",
                literal,
            ), literal


def test_model_artifacts_reach_processing_steps_through_the_training_step(
    compiled: dict[str, Any], definitions: dict[str, Any]
) -> None:
    args = steps_by_name(definitions["xgboost_e2e"])["XGBoostModelEval_calibration"]["Arguments"]
    model = next(i for i in args["ProcessingInputs"] if i["InputName"] == "model_input")
    assert model["S3Input"]["S3Uri"] == {
        "Get": "Steps.XGBoostTraining.ModelArtifacts.S3ModelArtifacts"
    }
    assert model["S3Input"]["LocalPath"] == "/opt/ml/processing/input/model"
    # SageMaker stores the model as model.tar.gz; the launcher unpacks it for the script
    entry = next(i for i in args["ProcessingInputs"] if i["InputName"] == "entrypoint")
    runproc = compiled["xgboost_e2e"].code[entry["S3Input"]["S3Uri"]].decode()
    assert 'tar -xzf "$archive" -C "/opt/ml/processing/input/model"' in runproc


def test_registration_creates_and_registers_the_packaged_model(definitions: dict[str, Any]) -> None:
    steps = steps_by_name(definitions["xgboost_e2e"])
    package_uri = {
        "Get": "Steps.Package.ProcessingOutputConfig.Outputs['packaged_model'].S3Output.S3Uri"
    }
    model_data = {"Std:Join": {"On": "/", "Values": [package_uri, "model.tar.gz"]}}
    create = steps["Registration-Model-CreateModel"]["Arguments"]
    assert create["PrimaryContainer"]["ModelDataUrl"] == model_data
    assert create["PrimaryContainer"]["Image"].endswith("sagemaker-xgboost:1.7-1")
    assert create["PrimaryContainer"]["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    register = steps["Registration-RegisterModel"]["Arguments"]
    assert register["ModelPackageGroupName"] == "xgboost-e2e"
    assert register["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    container = register["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == model_data
    assert register["SamplePayloadUrl"]["Std:Join"]["Values"][1] == "payload.tar.gz"
    assert register["CustomerMetadataProperties"]["cursus_run_id"] == {
        "Get": "Execution.PipelineExecutionId"
    }
    pytorch = steps_by_name(definitions["pytorch_e2e"])["Registration-RegisterModel"]["Arguments"]
    image = pytorch["InferenceSpecification"]["Containers"][0]["Image"]
    assert image.endswith("pytorch-inference:2.1-cpu-py310")


def test_pipeline_parameters_and_where_outputs_go(definitions: dict[str, Any]) -> None:
    definition = definitions["xgboost_e2e"]
    params = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    assert list(params) == list(STANDARD_PARAMETERS)
    assert params["ExecutionTempDir"] == f"s3://{BUCKET}/xgboost-e2e/executions"
    assert params["ModelApprovalStatus"] == "PendingManualApproval"
    args = steps_by_name(definition)["Package"]["Arguments"]
    output = args["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert output == {
        "Std:Join": {
            "On": "/",
            "Values": [
                {"Get": "Parameters.ExecutionTempDir"},
                {"Get": "Execution.PipelineExecutionId"},
                "Package",
                "packaged_model",
            ],
        }
    }
    assert args["ProcessingOutputConfig"]["KmsKeyId"] == {"Get": "Parameters.KmsKeyId"}
    assert "NetworkConfig" not in args  # no VPC unless a subnet is given
    simple = {p["Name"] for p in definitions["xgboost_simple"]["Parameters"]}
    assert "ModelApprovalStatus" not in simple  # declared only when a model is registered


def test_processing_environment_comes_from_the_plan(
    compiled: dict[str, Any], definitions: dict[str, Any]
) -> None:
    plan = compiled["xgboost_e2e"].plan
    for name in ("DataLoading_training", "TabularPreprocessing_calibration", "Payload"):
        args = steps_by_name(definitions["xgboost_e2e"])[name]["Arguments"]
        assert args.get("Environment", {}) == plan.step(name).env


def test_cache_and_retries_follow_the_config(make_config: Any) -> None:
    config = make_config(
        "xgboost_e2e",
        shared={"retries": 2, "retry_backoff_seconds": 5.0},
        specific={"DataLoading_training": {"cache": False}},
    )
    steps = steps_by_name(compile_dag("xgboost_e2e", config).definition_dict())
    assert "CacheConfig" not in steps["DataLoading_training"]
    assert steps["XGBoostTraining"]["CacheConfig"] == {"Enabled": True, "ExpireAfter": "P30D"}
    policies = steps["XGBoostTraining"]["RetryPolicies"]
    assert {tuple(p["ExceptionType"]) for p in policies} == {
        ("Step.SERVICE_FAULT", "Step.THROTTLING"),
        ("SageMaker.JOB_INTERNAL_ERROR", "SageMaker.CAPACITY_ERROR", "SageMaker.RESOURCE_LIMIT"),
    }
    assert all(p["MaxAttempts"] == 2 and p["IntervalSeconds"] == 5 for p in policies)
    # model steps take only step-level retries and have no cache
    model_policies = steps["Registration-RegisterModel"]["RetryPolicies"]
    assert [p["ExceptionType"] for p in model_policies] == [
        ["Step.SERVICE_FAULT", "Step.THROTTLING"]
    ]


def test_vpc_and_kms_defaults_come_from_parameters(configs: dict[str, Path]) -> None:
    result = compile_dag(
        "xgboost_e2e",
        configs["xgboost_e2e"],
        parameters={"VpcSubnet": "subnet-1", "SecurityGroupId": "sg-1", "KmsKeyId": "key"},
    )
    definition = result.definition_dict()
    params = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    assert params["VpcSubnet"] == "subnet-1" and params["KmsKeyId"] == "key"
    steps = steps_by_name(definition)
    vpc = steps["Package"]["Arguments"]["NetworkConfig"]["VpcConfig"]
    assert vpc == {
        "Subnets": [{"Get": "Parameters.VpcSubnet"}],
        "SecurityGroupIds": [{"Get": "Parameters.SecurityGroupId"}],
    }
    assert steps["XGBoostTraining"]["Arguments"]["VpcConfig"] == vpc
    assert steps["Registration-Model-CreateModel"]["Arguments"]["VpcConfig"] == vpc


def test_runtime_values_become_execution_variables(make_config: Any) -> None:
    from cursus.backends.sagemaker.build import _Builder

    plan = PipelineDAGCompiler(make_config()).compile_to_plan(load_dag("xgboost_simple"))
    step = plan.step("DataLoading_training")
    step.runtime_env = {"CURSUS_RUN_ID": "run_id", "CURSUS_DIGESTS": "input_digests"}
    builder = _Builder.__new__(_Builder)
    builder.warnings = []
    env = builder._environment(step)
    assert env["CURSUS_RUN_ID"].expr == {"Get": "Execution.PipelineExecutionId"}
    assert "CURSUS_DIGESTS" not in env
    assert "input_digests" in builder.warnings[0]


def test_definitions_are_deterministic_and_code_keys_are_content_hashes(
    compiled: dict[str, Any], configs: dict[str, Path]
) -> None:
    again = compile_dag("xgboost_e2e", configs["xgboost_e2e"])
    assert again.definition() == compiled["xgboost_e2e"].definition()
    assert again.code == compiled["xgboost_e2e"].code
    for uri, body in again.code.items():
        digest = uri.split("/")[-2]
        if uri.endswith("runproc.sh"):
            assert digest == hashlib.sha256(body).hexdigest()
        else:
            with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
            assert digest == content_digest(files)
            step = next(
                s
                for s in compiled["xgboost_e2e"].plan.steps
                if s.script["entry_point"] in files and set(s.script["files"]) <= set(files)
            )
            requirements = files.get("requirements.txt", b"").decode().split()
            assert files == bundle_files(step.script["folder"], step.script["files"], requirements)


def test_the_package_bundle_carries_the_inference_code_it_copies_into_the_model(
    definitions: dict[str, dict[str, Any]], compiled: dict[str, Any]
) -> None:
    """package.py copies inference.py (and _tabular.py) into model.tar.gz/code/: the job has
    them only if its sourcedir.tar.gz does."""
    package = steps_by_name(definitions["xgboost_e2e"])["Package"]
    code = next(i for i in package["Arguments"]["ProcessingInputs"] if i["InputName"] == "code")
    body = compiled["xgboost_e2e"].code[code["S3Input"]["S3Uri"]]
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert {"package.py", "inference.py", "_tabular.py"} <= set(tar.getnames())


def test_payload_runs_on_the_image_of_the_models_framework(
    definitions: dict[str, dict[str, Any]],
) -> None:
    """Payload runs the packaged model's own inference code, which imports xgboost (or torch):
    the scikit-learn image has neither."""
    for dag, image in (("xgboost_e2e", "sagemaker-xgboost:1.7-1"), ("pytorch_e2e", "pytorch")):
        payload = steps_by_name(definitions[dag])["Payload"]
        assert image in payload["Arguments"]["AppSpecification"]["ImageUri"]


@pytest.mark.filterwarnings("ignore:Running within a PipelineSession")
def test_compiler_returns_the_sdk_pipeline_for_target_sagemaker(
    compiled: dict[str, Any], configs: dict[str, Path]
) -> None:
    from sagemaker.workflow.pipeline import Pipeline

    dag = load_dag("xgboost_simple")
    pipeline = compile_dag_to_pipeline(dag, configs["xgboost_simple"], target="sagemaker")
    assert isinstance(pipeline, Pipeline)
    # its session is offline for good: definition() again makes no AWS call
    assert pipeline.definition() == compiled["xgboost_simple"].definition()
    other_role = "arn:aws:iam::210987654321:role/Other"
    by_compiler = PipelineDAGCompiler(configs["xgboost_simple"], role=other_role)
    assert other_role in by_compiler.compile(dag, target="sagemaker").definition()
    assert ROLE not in by_compiler.compile(dag, target="sagemaker").definition()


def test_bundled_dags_are_all_covered() -> None:
    from cursus.api.loading import bundled_dag_names

    assert set(BUNDLED_DAGS) <= set(bundled_dag_names())


def test_dag_edges_without_data_become_depends_on(tmp_path: Path) -> None:
    from cursus.api.dag import PipelineDAG
    from cursus.backends.sagemaker import check_definition
    from cursus.core.config_file import default_configs, save_configs

    dag = PipelineDAG()
    dag.add_node("DataLoading_training")
    dag.add_node("DataLoading_calibration")
    dag.add_edge("DataLoading_training", "DataLoading_calibration")
    configs = default_configs(dag, role=ROLE, bucket=BUCKET, data_source=f"s3://{BUCKET}/d/")
    config = save_configs(configs, tmp_path / "c.json")
    result = compile_dag(dag, config)
    steps = steps_by_name(result.definition_dict())
    assert steps["DataLoading_calibration"]["DependsOn"] == ["DataLoading_training"]
    assert check_definition(result.definition_dict(), result.plan) == []


def test_no_job_of_the_xgboost_pipeline_installs_anything_at_start(
    compiled: dict[str, Any],
) -> None:
    """Jobs in secure accounts have no internet: every package the XGBoost pipeline's scripts
    import is in their image, so no bundle carries a requirements.txt. The launcher still
    installs one for a user's step that declares requirements."""
    bundles = {}
    for uri, body in compiled["xgboost_e2e"].code.items():
        if uri.endswith("sourcedir.tar.gz"):
            with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                bundles[uri] = tar.getnames()
    assert len(bundles) == 7  # one per step type (both DataLoading nodes share theirs)
    assert not [names for names in bundles.values() if "requirements.txt" in names]
    launchers = [b.decode() for u, b in compiled["xgboost_e2e"].code.items() if u.endswith(".sh")]
    assert launchers and all("pip install --quiet -r requirements.txt" in t for t in launchers)


def test_lightgbm_jobs_run_on_the_xgboost_image_with_the_wheel_in_their_bundle(
    make_config: Any,
) -> None:
    """The XGBoost image has no lightgbm and the jobs may have no internet: each job that imports
    lightgbm carries the wheel in its sourcedir.tar.gz (no requirements.txt), the images are
    XGBoost's, and the package is registered as an XGBOOST model."""
    from cursus.backends.sagemaker.wheels import framework_wheels

    (wheel,) = framework_wheels("lightgbm", "3.9")
    result = compile_dag("lightgbm_e2e", make_config("lightgbm_e2e"))
    steps = steps_by_name(result.definition_dict())
    training = steps["LightGBMTraining"]["Arguments"]
    assert "sagemaker-xgboost:1.7-1" in training["AlgorithmSpecification"]["TrainingImage"]
    assert (
        "sagemaker-xgboost:1.7-1" in steps["Payload"]["Arguments"]["AppSpecification"]["ImageUri"]
    )
    carrying = set()
    for uri, body in result.code.items():
        if not uri.endswith("sourcedir.tar.gz"):
            continue
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            members = tar.getnames()
            assert "requirements.txt" not in members
            if f"wheels/{wheel.name}" in members:
                extracted = tar.extractfile(f"wheels/{wheel.name}")
                assert extracted is not None and extracted.read() == wheel.read_bytes()
                scripts = (n for n in members if n.endswith(".py") and not n.startswith("_"))
                carrying.add(frozenset(scripts))
    assert carrying == {
        frozenset({"lightgbm_training.py"}),
        frozenset({"model_eval.py"}),
        frozenset({"payload.py", "inference.py"}),
    }
    register = json.dumps(steps["Registration-RegisterModel"]["Arguments"])
    assert "XGBOOST" in register and "CLASSIFICATION" in register
