"""Every catalog pipeline, compiled for SageMaker, runs end to end in the twins of its images,
offline: each processing job through its runproc.sh and code bundle, training in script mode
through the image's toolkit, the packaged model served through the image's serving toolkit with
the answers Payload recorded.

A MODS variant compiles to the same definition as its standard pipeline (asserted), so one
emulation serves both. The deployment pipeline packages the model that xgboost_simple trained
in its emulation, found at the S3 URI its sample config names. PyTorch pipelines skip: their
image's twin cannot be built here (torch 2.1 on PyPI is the CUDA build only).
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from cursus.backends.sagemaker.build import compilation_of
from cursus.backends.sagemaker.emulate import Emulation, LocalS3, emulate
from cursus.backends.sagemaker.twins import TWINS, TwinUnavailable, require_twin
from cursus.pipeline_catalog import create_pipeline_from_catalog, get_entry
from cursus.pipeline_catalog.index import pipeline_ids

# where the deployment sample config finds its model (conftest.S3_MODEL)
S3_MODEL = "s3://replace-with-your-bucket/models/xgboost/model.tar.gz"
STANDARD = sorted(i for i in pipeline_ids() if not i.endswith("_mods"))
# the deployment pipeline reads the model another emulation trained
ORDER = sorted(STANDARD, key=lambda i: "existing_model" in get_entry(i)["features"])
RESULTS: dict[str, Emulation] = {}


def _skip_without_twins(pipeline_id: str) -> None:
    framework = get_entry(pipeline_id)["framework"]
    for twin in TWINS.values():
        if twin.framework in {"sklearn", framework, "xgboost"}:
            try:
                require_twin(twin)
            except TwinUnavailable as exc:
                pytest.skip(str(exc))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("emulate")


def _definition(pipeline_id: str, config: Path) -> tuple[object, dict]:
    compiled = compilation_of(
        create_pipeline_from_catalog(pipeline_id, config, allow_sample_data=True)
    )
    return compiled, compiled.definition_dict()


@pytest.mark.slow
@pytest.mark.parametrize("pipeline_id", ORDER)
def test_runs_in_the_image_twins_as_sagemaker_would(
    pipeline_id: str, workdir: Path, sample_config: Callable[..., Path]
) -> None:
    _skip_without_twins(pipeline_id)
    entry = get_entry(pipeline_id)
    if "existing_model" in entry["features"]:
        trained = RESULTS.get("xgboost_simple")
        if trained is None:
            pytest.skip("needs the model xgboost_simple trains in its emulation")
        s3 = LocalS3(workdir / "s3")
        archive = trained.step("XGBoostTraining").properties["ModelArtifacts"]["S3ModelArtifacts"]
        s3.path(S3_MODEL).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(s3.path(archive), s3.path(S3_MODEL))
    compiled, definition = _definition(pipeline_id, sample_config(pipeline_id))
    result = emulate(compiled, workdir)  # type: ignore[arg-type]
    failures = {s.name: s.reason for s in result.steps if s.status != "Succeeded"}
    assert result.succeeded, f"{pipeline_id}: {json.dumps(failures, indent=2)}"
    assert {s.name for s in result.steps} == {s["Name"] for s in definition["Steps"]}
    RESULTS[pipeline_id] = result
    if "registration" in entry["features"]:
        register = next(s for s in result.steps if s.type == "RegisterModel")
        assert register.properties["SampleRequestsServed"] >= 4  # CSV and JSON, two accepts each
    variant = f"{pipeline_id}_mods"
    if variant in pipeline_ids():
        _, mods_definition = _definition(variant, sample_config(variant))
        assert mods_definition == definition, f"{variant} compiles to another definition"


BAD_REQUESTS = [
    ("1,2\n1,2,3", "text/csv", 400),  # ragged
    ('{"instances": [', "application/json", 400),  # not JSON
    ("<row/>", "application/xml", 415),
]


@pytest.mark.slow
def test_the_endpoint_in_the_image_twin_answers_as_cursus_serve_does(
    workdir: Path, tmp_path: Path
) -> None:
    """The model.tar.gz the emulated pipeline packaged, served in the XGBoost image's twin
    through its toolkit, and by `cursus serve` on loopback: same bodies and content types for
    the sample payloads in both accept types; the same 4xx for bad requests."""
    import httpx

    from cursus.backends.sagemaker.emulate import serve_in_twin
    from cursus.mlops import serving
    from cursus.mlops.project import Project

    result = RESULTS.get("xgboost_complete_e2e")
    if result is None:
        pytest.skip("needs the emulation of xgboost_complete_e2e")
    s3 = LocalS3(workdir / "s3")
    outputs = result.step("Package").properties["ProcessingOutputConfig"]["Outputs"]
    archive = s3.path(outputs["packaged_model"]["S3Output"]["S3Uri"]) / "model.tar.gz"
    payload = result.step("Payload").properties["ProcessingOutputConfig"]["Outputs"]
    samples = s3.path(payload["payload_sample"]["S3Output"]["S3Uri"])
    requests = [
        {"body": (samples / name).read_text(), "content_type": kind, "accept": accept}
        for name, kind in (("payload.csv", "text/csv"), ("payload.json", "application/json"))
        for accept in ("application/json", "text/csv")
    ]
    requests += [
        {"body": b, "content_type": t, "accept": "application/json"} for b, t, _ in BAD_REQUESTS
    ]
    image = result.step("Registration-Model-CreateModel").twin
    assert image == "xgboost-1.7-1"
    uri = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    in_twin = serve_in_twin(archive, uri, requests, tmp_path / "twin")

    project = Project.load("parity", tmp_path / "ws")
    record = serving.deploy_model(project, str(archive), port=_free_port(), name="parity")
    try:
        with httpx.Client(base_url=record["url"], timeout=10) as client:
            served = [
                client.post(
                    "/invocations",
                    content=r["body"],
                    headers={"content-type": r["content_type"], "accept": r["accept"]},
                )
                for r in requests
            ]
    finally:
        serving.stop_deployment(project, "parity")
    for request, twin, local in zip(requests, in_twin, served, strict=True):
        assert twin["status"] == local.status_code, (request, twin, local.text)
        if local.status_code == 200:
            assert twin["content_type"].split(";")[0] == request["accept"]
            assert local.headers["content-type"].split(";")[0] == request["accept"]
            assert twin["body"].strip() == local.text.strip()
    assert [t["status"] for t in in_twin[-3:]] == [s for _, _, s in BAD_REQUESTS]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_a_pretrained_lightgbm_model_is_brought_in_and_released_in_the_twins(
    workdir: Path, tmp_path: Path
) -> None:
    """DummyTraining reads the model.tar.gz the emulated LightGBM pipeline trained, from S3, and
    Payload reads DummyTraining's model folder (the first system's shape: model -> Payload, no
    package in between); every job imports lightgbm from the wheel in its bundle, offline, in
    the XGBoost twin; the registered package answers the Payload samples."""
    from cursus.api.dag import PipelineDAG
    from cursus.core.config_file import default_configs, save_configs
    from cursus.pipeline_catalog.samples import SAMPLE_BUCKET, SAMPLE_ROLE
    from cursus.targets import compile_dag

    trained = RESULTS.get("lightgbm_complete_e2e")
    if trained is None:
        pytest.skip("needs the model lightgbm_complete_e2e trains in its emulation")
    archive = trained.step("LightGBMTraining").properties["ModelArtifacts"]["S3ModelArtifacts"]
    dag = PipelineDAG(
        ["DummyTraining", "Package", "Payload", "Registration"],
        [
            ("DummyTraining", "Package"),
            ("DummyTraining", "Payload"),
            ("Package", "Registration"),
            ("Payload", "Registration"),
        ],
    )
    configs = default_configs(
        dag, role=SAMPLE_ROLE, bucket=SAMPLE_BUCKET, pipeline_name="pretrained-lightgbm"
    )
    configs["DummyTraining"] = type(configs["DummyTraining"]).model_validate(
        {
            **configs["DummyTraining"].model_dump(),
            "pretrained_model_path": archive,
            "model_framework": "lightgbm",
        }
    )
    plan_config = save_configs(configs, tmp_path / "pretrained.json")
    shutil.copytree(workdir / "s3", tmp_path / "run" / "s3")
    compiled = compile_dag(dag, plan_config, allow_sample_data=True)
    payload = next(s for s in compiled.definition_dict()["Steps"] if s["Name"] == "Payload")
    inputs = {i["InputName"] for i in payload["Arguments"]["ProcessingInputs"]}
    assert inputs == {"model_input", "code", "entrypoint"}  # the model, not a package
    result = emulate(compiled, tmp_path / "run")  # type: ignore[arg-type]
    failures = {s.name: s.reason for s in result.steps if s.status != "Succeeded"}
    assert result.succeeded, json.dumps(failures, indent=2)
    register = next(s for s in result.steps if s.type == "RegisterModel")
    assert register.properties["SampleRequestsServed"] >= 4
