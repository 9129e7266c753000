"""Registration into the local folder registry: increasing versions, safe under concurrent
registrations, metrics and lineage recorded, and a clear error for registries not supported yet."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import re
import time
from pathlib import Path

import pytest
import registration as step
from _fixtures import TrainedModel, assert_matches_spec, build_package
from _tabular import StepInputError


@pytest.fixture(scope="module")
def package_dir(trained_xgboost: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_package(trained_xgboost.model_dir, tmp_path_factory.mktemp("package")).parent


def run(
    package_dir: Path, out_dir: Path, registry_uri: str, payload_dir: Path | None = None, **env: str
) -> dict:
    inputs = {"packaged_model": str(package_dir)}
    if payload_dir is not None:
        inputs["payload_sample"] = str(payload_dir)
    environ = {"MODEL_NAME": "churn", "MODEL_REGISTRY_URI": registry_uri, **env}
    return step.main(inputs, {"registration_output": str(out_dir)}, environ, {})


def test_constants_match_spec() -> None:
    assert_matches_spec(step, "registration")


def test_an_archive_is_registered_once_with_its_metrics_and_lineage(
    tmp_path: Path, package_dir: Path, trained_xgboost: TrainedModel
) -> None:
    """Registering the same archive again (another run of an unchanged pipeline) returns the
    version it has; tests/mlops/test_registry.py checks a new archive is a new version."""
    env = {
        "PIPELINE_NAME": "xgb-e2e",
        "PIPELINE_VERSION": "1.2.0",
        "CURSUS_RUN_ID": "run-7",
        "CURSUS_INPUT_DIGESTS": json.dumps({"packaged_model": "sha256:abc"}),
    }
    results = [
        run(package_dir, tmp_path / f"out{i}", str(tmp_path / "registry"), **env) for i in range(3)
    ]

    assert [r["model_version"] for r in results] == [1, 1, 1]
    version_dir = tmp_path / "registry" / "churn" / "1"
    assert sorted(p.name for p in version_dir.iterdir()) == ["model.tar.gz", "registration.json"]
    archive = (package_dir / "model.tar.gz").read_bytes()
    assert (version_dir / "model.tar.gz").read_bytes() == archive
    record = json.loads((version_dir / "registration.json").read_text())
    assert record == json.loads((tmp_path / "out0" / "registration.json").read_text())
    again = json.loads((tmp_path / "out2" / "registration.json").read_text())
    assert again == {**record, "reused": True}
    assert (record["name"], record["version"]) == ("churn", 1)
    assert record["registry"] == (tmp_path / "registry").resolve().as_uri()
    training_metrics = json.loads((trained_xgboost.model_dir / "training_metrics.json").read_text())
    assert record["metrics"] == {"training": training_metrics}
    lineage = record["lineage"]
    assert lineage["model_sha256"] == hashlib.sha256(archive).hexdigest()
    assert (lineage["pipeline_name"], lineage["pipeline_version"], lineage["run_id"]) == (
        "xgb-e2e",
        "1.2.0",
        "run-7",
    )
    assert lineage["input_digests"] == {"packaged_model": "sha256:abc"}
    assert lineage["registered_at"].endswith("+00:00")
    assert step.LocalModelRegistry(tmp_path / "registry").versions("churn") == [1]


def test_file_uri_and_payload(tmp_path: Path, package_dir: Path) -> None:
    (tmp_path / "payload").mkdir()
    (tmp_path / "payload" / "payload.tar.gz").write_bytes(b"payload bytes")
    registry = tmp_path / "my registry"  # a space, percent-encoded in the URI

    result = run(package_dir, tmp_path / "out", registry.as_uri(), payload_dir=tmp_path / "payload")

    assert result == {"model_version": 1}
    assert (registry / "churn" / "1" / "payload.tar.gz").read_bytes() == b"payload bytes"
    record = json.loads((tmp_path / "out" / "registration.json").read_text())
    assert record["payload_uri"] == (registry / "churn" / "1" / "payload.tar.gz").as_uri()


def _register_repeatedly(registry_root: str, archive: str, worker: int, start_at: float) -> None:
    registry = step.open_registry(registry_root)
    time.sleep(max(0.0, start_at - time.time()))  # start together to collide on version numbers
    for i in range(5):
        registry.register("churn", Path(archive), {}, {"run_id": f"{worker}-{i}"}, None)


def test_concurrent_registrations_get_distinct_versions(tmp_path: Path, package_dir: Path) -> None:
    context = multiprocessing.get_context("fork")
    start_at = time.time() + 0.3
    workers = [
        context.Process(
            target=_register_repeatedly,
            args=(str(tmp_path / "registry"), str(package_dir / "model.tar.gz"), w, start_at),
        )
        for w in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]

    registry = step.LocalModelRegistry(tmp_path / "registry")
    assert registry.versions("churn") == list(range(1, 21))
    records = [
        json.loads((tmp_path / "registry" / "churn" / str(v) / "registration.json").read_text())
        for v in range(1, 21)
    ]
    assert [r["version"] for r in records] == list(range(1, 21))
    assert len({r["lineage"]["run_id"] for r in records}) == 20


def test_open_registry_picks_the_local_registry_for_paths_and_file_uris(tmp_path: Path) -> None:
    for uri in (str(tmp_path), tmp_path.as_uri(), f"file://localhost{tmp_path}"):
        registry = step.open_registry(uri)
        assert isinstance(registry, step.LocalModelRegistry)
        assert isinstance(registry, step.ModelRegistry)
        assert registry.root == tmp_path.resolve()


@pytest.mark.parametrize(
    "uri",
    ["s3://bucket/registry", "mlflow://tracking", "sqlite://relative.db", "file://otherhost/r"],
)
def test_remote_registries_are_refused(tmp_path: Path, package_dir: Path, uri: str) -> None:
    with pytest.raises(StepInputError, match="only local registries"):
        run(package_dir, tmp_path / "out", uri)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CURSUS_INPUT_DIGESTS": "[1, 2]"}, "CURSUS_INPUT_DIGESTS must be a JSON object"),
        ({"MODEL_NAME": "../escape"}, "MODEL_NAME='../escape'"),
        ({"MODEL_NAME": ""}, "set MODEL_NAME and MODEL_REGISTRY_URI"),
    ],
)
def test_bad_settings_are_named(
    tmp_path: Path, package_dir: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(StepInputError, match=re.escape(message)):
        run(package_dir, tmp_path / "out", str(tmp_path / "registry"), **env)
    assert not (tmp_path / "registry" / "churn").exists()
