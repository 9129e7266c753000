"""The emulator: a compiled SageMaker pipeline run here step by step, in twins of its images.

The pieces (expressions, order, S3 as a folder, image -> twin) are tested on their own; the jobs
run for real in the twins (built by `make test`; elsewhere these tests skip, saying how to build
them, unless CURSUS_REQUIRE_TWINS=1 makes a missing twin a failure).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from _sagemaker_support import write_config

from cursus.backends.sagemaker.emulate import (
    EmulationError,
    JobFailed,
    LocalS3,
    Resolver,
    emulate,
    execution_order,
)
from cursus.backends.sagemaker.twins import (
    TWINS,
    TwinUnavailable,
    require_twin,
    twin_for_image,
    twin_of,
)
from cursus.targets import compile_dag


def needs_twins(*names: str) -> None:
    """Skip (or, with CURSUS_REQUIRE_TWINS=1, fail) when a twin is not built here."""
    for twin in TWINS.values():
        if twin.name not in names:
            continue
        try:
            require_twin(twin)
        except TwinUnavailable as exc:
            if os.environ.get("CURSUS_REQUIRE_TWINS") == "1":
                pytest.fail(str(exc))
            pytest.skip(str(exc))


# ---------------------------------------------------------------- pieces


def test_expressions_resolve_like_the_service() -> None:
    resolve = Resolver({"Prefix": "s3://b/p"}, {"PipelineExecutionId": "abc123"})
    resolve.properties["Prep"] = {
        "ProcessingOutputConfig": {"Outputs": {"data": {"S3Output": {"S3Uri": "s3://b/p/d"}}}}
    }
    value = {
        "Std:Join": {
            "On": "/",
            "Values": [{"Get": "Parameters.Prefix"}, {"Get": "Execution.PipelineExecutionId"}],
        }
    }
    assert resolve(value) == "s3://b/p/abc123"
    prop = {"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['data'].S3Output.S3Uri"}
    assert resolve({"S3Uri": prop, "n": [1, True]}) == {"S3Uri": "s3://b/p/d", "n": [1, True]}
    with pytest.raises(JobFailed, match="no parameter 'Nope'"):
        resolve({"Get": "Parameters.Nope"})
    with pytest.raises(JobFailed, match="has not run before"):
        resolve({"Get": "Steps.Later.X"})
    with pytest.raises(JobFailed, match="no property 'Missing'"):
        resolve({"Get": "Steps.Prep.Missing.S3Uri"})


def test_steps_run_after_the_steps_they_read() -> None:
    definition = {
        "Steps": [
            {"Name": "C", "Arguments": {"x": {"Get": "Steps.B.Y"}}},
            {"Name": "B", "Arguments": {"x": {"Get": "Steps.A.Y"}}},
            {"Name": "A", "Arguments": {}},
            {"Name": "D", "Arguments": {}, "DependsOn": ["C"]},
        ]
    }
    assert [s["Name"] for s in execution_order(definition)] == ["A", "B", "C", "D"]
    definition["Steps"][2]["DependsOn"] = ["D"]
    with pytest.raises(EmulationError, match="cycle"):
        execution_order(definition)


def test_s3_reads_follow_prefix_semantics(tmp_path: Path) -> None:
    s3 = LocalS3(tmp_path / "s3")
    s3.put("s3://b/run/data/part-0.parquet", b"0")
    s3.put("s3://b/run/data/sub/part-1.parquet", b"1")
    s3.put("s3://b/code/abc/runproc.sh", b"#!/bin/bash")
    assert s3.download("s3://b/run/data", tmp_path / "in") == 2
    assert (tmp_path / "in" / "sub" / "part-1.parquet").read_bytes() == b"1"
    s3.download("s3://b/code/abc/runproc.sh", tmp_path / "entry")  # a single object
    assert (tmp_path / "entry" / "runproc.sh").is_file()
    with pytest.raises(JobFailed, match="No S3 objects found"):
        s3.download("s3://b/run/nothing", tmp_path / "x")
    with pytest.raises(JobFailed, match="not a valid S3 URI"):
        s3.path("s3://b/../etc/passwd")


def test_every_image_the_backend_names_has_a_twin() -> None:
    from cursus.backends.sagemaker.build import image_uri
    from cursus.frameworks import FRAMEWORKS

    for framework in FRAMEWORKS.values():
        for image in framework.images:
            for scope in ("training", "inference"):
                if framework.name == "sklearn" and scope == "inference":
                    continue
                uri = image_uri(
                    framework.image,
                    "us-east-1",
                    image.version,
                    image.py_version,
                    "ml.m5.xlarge",
                    scope,
                )
                # LightGBM runs on the XGBoost image: its twin is XGBoost's
                assert twin_for_image(uri) is twin_of(framework.name, image.version)
                assert twin_of(framework.name, image.version).framework == (
                    framework.runs_on or framework.name
                )
    with pytest.raises(TwinUnavailable, match=r"no twin of xgboost 0\.90"):
        twin_for_image("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:0.90-2")
    with pytest.raises(TwinUnavailable, match=r"cannot be built here: torch 2\.1"):
        require_twin(TWINS[("pytorch", "2.1")])


def test_unknown_parameter_is_refused(compiled: dict, tmp_path: Path) -> None:
    with pytest.raises(EmulationError, match="'Bogus'"):
        emulate(compiled["xgboost_simple"], tmp_path, parameters={"Bogus": "1"})


# ---------------------------------------------------------------- jobs in twins


def _single_step(tmp_path: Path, requirements: list[str]):  # -> SageMakerPipeline
    from cursus.api.dag import PipelineDAG
    from cursus.backends.sagemaker import generate_pipeline
    from cursus.core.compiler import PipelineDAGCompiler

    dag = PipelineDAG()
    dag.add_node("DataLoading_training")
    config = write_config(tmp_path / "c.json", "xgboost_simple", sample_data=True)
    plan = PipelineDAGCompiler(str(config)).compile_to_plan(dag)
    plan.steps[0].script["requirements"] = requirements
    return generate_pipeline(plan)


def test_a_job_that_needs_pip_at_start_fails_as_it_would_without_internet(
    tmp_path: Path,
) -> None:
    needs_twins("sklearn-1.2-1")
    result = emulate(_single_step(tmp_path, ["fsspec>=2024.2"]), tmp_path / "emu")
    step = result.step("DataLoading_training")
    assert step.status == "Failed" and step.twin == "sklearn-1.2-1"
    assert "fsspec" in step.reason and "No matching distribution" in step.reason
    assert not result.succeeded


def test_a_processing_job_sees_its_inputs_and_outputs_at_container_paths(tmp_path: Path) -> None:
    needs_twins("sklearn-1.2-1")
    result = emulate(_single_step(tmp_path, []), tmp_path / "emu")
    step = result.step("DataLoading_training")
    assert step.status == "Succeeded", step.reason
    uri = step.properties["ProcessingOutputConfig"]["Outputs"]["data"]["S3Output"]["S3Uri"]
    assert uri.endswith(f"/{result.execution_id}/DataLoading_training/data")
    written = LocalS3(tmp_path / "emu" / "s3").objects(uri)
    assert [name for _, name in written] == ["data.parquet"]
    log = Path(step.log).read_text()
    assert "/opt/ml/processing/output/data" in log or written  # the script wrote there


def test_emulated_training_packs_the_model_as_sagemaker_does(tmp_path: Path) -> None:
    needs_twins("sklearn-1.2-1", "xgboost-1.7-1")
    config = write_config(tmp_path / "c.json", "xgboost_simple", sample_data=True)
    result = emulate(compile_dag("xgboost_simple", config, allow_sample_data=True), tmp_path)
    assert result.succeeded, [(s.name, s.reason) for s in result.steps if s.reason]
    training = result.step("XGBoostTraining")
    assert training.twin == "xgboost-1.7-1"
    archive = LocalS3(tmp_path / "s3").path(
        training.properties["ModelArtifacts"]["S3ModelArtifacts"]
    )
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "model_meta.json" in names and not any(n.startswith("/") for n in names)
    sandbox = result.root / "jobs" / "XGBoostTraining" / "opt_ml"
    hyperparameters = json.loads((sandbox / "input/config/hyperparameters.json").read_text())
    assert all(isinstance(v, str) for v in hyperparameters.values())  # as SageMaker writes them
    assert (sandbox / "code" / "xgboost_training.py").is_file()  # the toolkit unpacked the code
    record = json.loads((result.root / "emulation.json").read_text())
    assert record["status"] == "Succeeded"
    assert [s["status"] for s in record["steps"]] == ["Succeeded"] * len(record["steps"])


def _cursus(*args: str) -> subprocess.CompletedProcess[str]:
    cursus = Path(sys.executable).with_name("cursus")
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true", "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}
    return subprocess.run(
        [str(cursus), *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def test_cli_lists_twins_and_refuses_unknown_ones() -> None:
    listed = json.loads(_cursus("sagemaker", "twins", "list", "--json").stdout)
    assert {t["twin"] for t in listed} == {t.name for t in TWINS.values()}
    pytorch = next(t for t in listed if t["twin"] == "pytorch-2.1")
    assert pytorch["state"].startswith("unavailable: torch 2.1")
    unknown = _cursus("sagemaker", "twins", "build", "nope-1.0")
    assert unknown.returncode == 2 and "unknown twins ['nope-1.0']" in unknown.stderr


def test_cli_emulates_a_dag_file_and_reports_each_step(tmp_path: Path) -> None:
    needs_twins("sklearn-1.2-1")
    dag = tmp_path / "dag.json"
    dag.write_text(json.dumps({"dag": {"nodes": ["DataLoading_training"], "edges": []}}))
    config = write_config(tmp_path / "c.json", "xgboost_simple", sample_data=True)
    ok = _cursus("sagemaker", "emulate", str(dag), "-c", str(config), "--workdir", str(tmp_path))
    assert ok.returncode == 0, ok.stderr
    assert "Succeeded DataLoading_training" in ok.stdout and "[sklearn-1.2-1]" in ok.stdout
    bad = _cursus(
        "sagemaker", "emulate", str(dag), "-c", str(config), "--param", "Nope=1", "--json"
    )
    assert bad.returncode == 2 and "'Nope'" in bad.stderr


def test_answers_recorded_from_the_trained_model_are_compared_on_its_scores() -> None:
    """Payload fed by the training step (the first system's shape) records the model before it
    was packaged: the package may add calibrated values and the label they decide, but its
    scores must be the model's."""
    from cursus.backends.sagemaker.emulate import JobFailed, _compare

    recorded = json.dumps({"predictions": [{"prob": 0.25, "label": 0}]})
    request = {
        "request_file": "payload.json",
        "content_type": "application/json",
        "accept": "application/json",
        "expected": recorded,
        "recorded_from": "trained",
    }
    calibrated = {"prob": 0.25, "calibrated_prob": 0.6, "label": 1}
    answer = {
        "status": 200,
        "content_type": "application/json",
        "body": json.dumps({"predictions": [calibrated]}),
    }
    _compare([request], [answer])  # the package adds a calibration: accepted
    other = {**answer, "body": json.dumps({"predictions": [{**calibrated, "prob": 0.3}]})}
    with pytest.raises(JobFailed, match=r"scores for payload\.json .* differ from the trained"):
        _compare([request], [other])
    with pytest.raises(JobFailed, match="differs from what Payload recorded"):
        _compare([{**request, "recorded_from": "packaged"}], [answer])
