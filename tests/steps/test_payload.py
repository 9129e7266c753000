"""Payload: sample requests within the fitted ranges, and expected responses that come from the
package's own inference code."""

from __future__ import annotations

import csv
import io
import json
import tarfile
from pathlib import Path

import _tabular
import payload as step
import pytest
from _fixtures import TrainedModel, assert_matches_spec, build_package, calibrate


def run(package_dir: Path, out_dir: Path, **env: str) -> dict[str, float]:
    return step.main(
        {"packaged_model": str(package_dir)}, {"payload_sample": str(out_dir)}, env, {}
    )


@pytest.fixture(scope="module")
def calibrated_package(
    trained_xgboost: TrainedModel, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    work = tmp_path_factory.mktemp("payload")
    return build_package(
        trained_xgboost.model_dir, work / "package", calibrate(trained_xgboost, work)
    ).parent


def test_constants_match_spec() -> None:
    assert_matches_spec(step, "payload")


def test_payload_rows_follow_the_fitted_schema(
    tmp_path: Path, calibrated_package: Path, trained_xgboost: TrainedModel
) -> None:
    run(calibrated_package, tmp_path, N_SAMPLES="7", RANDOM_SEED="3")
    prep = _tabular.load_preprocessing(trained_xgboost.model_dir)
    features = prep["features"]

    rows = list(csv.reader(io.StringIO((tmp_path / "payload.csv").read_text())))
    instances = json.loads((tmp_path / "payload.json").read_text())["instances"]
    assert len(rows) == len(instances) == 7
    assert all(len(row) == len(features) for row in rows)  # no header, one value per feature
    assert [list(i) for i in instances] == [features] * 7
    assert instances[0] == {**prep["numeric_impute"], "segment": prep["categories"]["segment"][0]}
    for row, instance in zip(rows, instances, strict=True):
        assert row == [str(instance[f]) for f in features]
        assert instance["segment"] in prep["categories"]["segment"]
        for name, stats in prep["numeric_stats"].items():
            assert stats["min"] <= instance[name] <= stats["max"]


def test_expected_responses_equal_a_fresh_call_of_the_handler(
    tmp_path: Path, calibrated_package: Path
) -> None:
    run(calibrated_package, tmp_path / "payload")
    import inference

    model_dir = tmp_path / "model"
    with tarfile.open(calibrated_package / "model.tar.gz") as tar:
        tar.extractall(model_dir, filter="data")
    model = inference.model_fn(str(model_dir))

    expected = json.loads((tmp_path / "payload" / "expected_responses.json").read_text())[
        "responses"
    ]
    assert {(r["content_type"], r["accept"]) for r in expected} == {
        (c, a) for c in ("text/csv", "application/json") for a in ("text/csv", "application/json")
    }
    for response in expected:
        body = (tmp_path / "payload" / response["request_file"]).read_text()
        prediction = inference.predict_fn(inference.input_fn(body, response["content_type"]), model)
        answer = inference.output_fn(prediction, response["accept"])
        assert answer == (response["body"], response["accept"])
    first = json.loads(expected[0]["body"])["predictions"]
    assert len(first) == 5 and {"prob", "calibrated_prob", "label"} == set(first[0])


def test_same_seed_gives_the_same_bytes(tmp_path: Path, calibrated_package: Path) -> None:
    run(calibrated_package, tmp_path / "a", RANDOM_SEED="11")
    run(calibrated_package, tmp_path / "b", RANDOM_SEED="11")
    run(calibrated_package, tmp_path / "c", RANDOM_SEED="12")

    archive = (tmp_path / "a" / "payload.tar.gz").read_bytes()
    assert archive == (tmp_path / "b" / "payload.tar.gz").read_bytes()
    assert (tmp_path / "a" / "payload.csv").read_text() != (
        tmp_path / "c" / "payload.csv"
    ).read_text()
    with tarfile.open(tmp_path / "a" / "payload.tar.gz") as tar:
        assert tar.getnames() == ["expected_responses.json", "payload.csv", "payload.json"]
        assert (
            tar.extractfile("payload.csv").read() == (tmp_path / "a" / "payload.csv").read_bytes()
        )


def test_responses_come_from_the_packaged_code(tmp_path: Path, calibrated_package: Path) -> None:
    """A package whose _tabular scores everything 0.25 must yield 0.25 in the expected responses,
    and loading it must not disturb the _tabular this process uses."""
    model_dir = tmp_path / "model"
    with tarfile.open(calibrated_package / "model.tar.gz") as tar:
        tar.extractall(model_dir, filter="data")
    packaged_tabular = model_dir / "code" / "_tabular.py"
    packaged_tabular.write_text(
        packaged_tabular.read_text()
        + "\nLoadedModel.predict_proba = lambda self, df: np.full(len(df), 0.25)\n"
    )
    files = {p.relative_to(model_dir).as_posix(): p for p in model_dir.rglob("*") if p.is_file()}
    _tabular.write_deterministic_tar(tmp_path / "package" / "model.tar.gz", files)
    own_predict = _tabular.LoadedModel.predict_proba

    run(tmp_path / "package", tmp_path / "payload")

    responses = json.loads((tmp_path / "payload" / "expected_responses.json").read_text())[
        "responses"
    ]
    json_bodies = [json.loads(r["body"]) for r in responses if r["accept"] == "application/json"]
    assert {p["prob"] for body in json_bodies for p in body["predictions"]} == {0.25}
    assert _tabular.LoadedModel.predict_proba is own_predict


def test_missing_package_is_named(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(_tabular.StepInputError, match=r"model\.tar\.gz"):
        run(tmp_path / "empty", tmp_path / "out")


@pytest.mark.parametrize("filter_available", [True, False])
def test_extract_archive_refuses_members_leaving_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, filter_available: bool
) -> None:
    """Pythons patched before 2023 (an image's may be) have no tarfile.data_filter; the package
    is then checked member by member instead."""
    if not filter_available:
        monkeypatch.delattr(tarfile, "data_filter")
    good = tmp_path / "good.tar.gz"
    (tmp_path / "model.json").write_text("{}")
    _tabular.write_deterministic_tar(good, {"model.json": tmp_path / "model.json"})
    assert (_tabular.extract_archive(good, tmp_path / "out") / "model.json").read_text() == "{}"

    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(Exception, match=r"escaped\.txt"):
        _tabular.extract_archive(evil, tmp_path / "out2")
    assert not (tmp_path / "escaped.txt").exists()
