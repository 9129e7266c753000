"""Package builds a reproducible model.tar.gz; the inference handler inside it serves CSV and JSON
with the same probabilities `_tabular.LoadedModel` gives, calibrated when calibration is packaged."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import inference
import numpy as np
import package as step
import pandas as pd
import pytest
from _fixtures import TrainedModel, assert_matches_spec, build_package, calibrate
from _tabular import LoadedModel, StepInputError, apply_calibration, load_json

SCRIPTS_DIR = Path(step.__file__).parent


def extract(archive: Path, destination: Path) -> Path:
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(destination, filter="data")
    return destination


def json_instances(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON objects, missing values as null."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def answer(
    model_dir: Path, body: str | bytes, content_type: str, accept: str = "application/json"
) -> tuple[str, str]:
    """The handler's (body, content type) for one request, as the SageMaker toolkits call it."""
    model = inference.model_fn(str(model_dir))
    return inference.output_fn(
        inference.predict_fn(inference.input_fn(body, content_type), model), accept
    )


def serve(
    model_dir: Path, body: str | bytes, content_type: str, accept: str = "application/json"
) -> str:
    text, _ = answer(model_dir, body, content_type, accept)
    return text


def probs(response: str) -> np.ndarray:
    return np.array([row["prob"] for row in json.loads(response)["predictions"]])


# ---------------------------------------------------------------- Package


def test_constants_match_spec() -> None:
    assert_matches_spec(step, "package")


def test_tarball_holds_model_files_at_root_and_serving_code(
    tmp_path: Path, trained_xgboost: TrainedModel
) -> None:
    archive = build_package(trained_xgboost.model_dir, tmp_path / "out")

    with tarfile.open(archive, "r:gz") as tar:
        members = tar.getmembers()
        code = tar.extractfile("code/inference.py").read()
    model_files = sorted(p.name for p in trained_xgboost.model_dir.iterdir())
    assert [m.name for m in members] == sorted(
        [*model_files, "code/_model_xgboost.py", "code/_tabular.py", "code/inference.py"]
    )
    assert "calibration.json" not in model_files
    assert code == (SCRIPTS_DIR / "inference.py").read_bytes()
    assert {(m.mtime, m.uid, m.gid, m.mode) for m in members} == {(946684800, 0, 0, 0o644)}


def test_same_inputs_give_byte_identical_tarballs(
    tmp_path: Path, trained_xgboost: TrainedModel
) -> None:
    first = build_package(trained_xgboost.model_dir, tmp_path / "first").read_bytes()
    copy = extract(tmp_path / "first" / "model.tar.gz", tmp_path / "copy")
    for path in copy.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))  # file times must not leak into the bytes
    for served in (copy / "code").iterdir():
        served.unlink()
    (copy / "code").rmdir()
    second = build_package(copy, tmp_path / "second").read_bytes()
    assert first == second


def test_calibration_is_packaged_at_the_root(tmp_path: Path, trained_xgboost: TrainedModel) -> None:
    calibration_dir = calibrate(trained_xgboost, tmp_path / "calibration")
    archive = build_package(trained_xgboost.model_dir, tmp_path / "out", calibration_dir)
    with tarfile.open(archive, "r:gz") as tar:
        packaged = json.load(tar.extractfile("calibration.json"))
    assert packaged == load_json(calibration_dir / "calibration.json")


def test_model_input_must_be_a_model_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(StepInputError, match=r"model_meta\.json"):
        build_package(tmp_path / "empty", tmp_path / "out")


# ---------------------------------------------------------------- inference handler


@pytest.fixture(scope="module")
def served(trained_xgboost: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uncalibrated package, extracted as the serving container would."""
    work = tmp_path_factory.mktemp("served")
    return extract(build_package(trained_xgboost.model_dir, work / "out"), work / "model")


def test_csv_and_json_requests_score_like_loaded_model(
    served: Path, trained_xgboost: TrainedModel
) -> None:
    rows = trained_xgboost.features.iloc[:25].copy()
    rows.iloc[0, 1] = np.nan  # imputed with the training median
    rows.iloc[1, rows.columns.get_loc("segment")] = None  # missing category
    rows.iloc[2, rows.columns.get_loc("segment")] = "east"  # category never seen in training
    expected = LoadedModel(trained_xgboost.model_dir).predict_proba(rows)

    csv_body = rows.to_csv(header=False, index=False)
    with_header = rows.to_csv(header=True, index=False)
    instances = json_instances(rows)
    for body, content_type in [
        (csv_body, "text/csv"),
        (with_header.encode(), "text/csv; charset=utf-8"),
        (json.dumps({"instances": instances}), "application/json"),
        (json.dumps(instances), "application/json"),
    ]:
        np.testing.assert_array_equal(probs(serve(served, body, content_type)), expected)

    single = json.loads(serve(served, json.dumps(instances[3]), "application/json"))
    assert single == {"predictions": [{"prob": expected[3], "label": int(expected[3] >= 0.5)}]}


def test_csv_response(served: Path, trained_xgboost: TrainedModel) -> None:
    rows = trained_xgboost.features.iloc[:3]
    expected = LoadedModel(trained_xgboost.model_dir).predict_proba(rows)
    response = serve(served, rows.to_csv(header=False, index=False), "text/csv", accept="text/csv")
    lines = [line.split(",") for line in response.splitlines()]
    assert [[float(p), int(label)] for p, label in lines] == [[p, int(p >= 0.5)] for p in expected]


def test_calibrated_package_answers_calibrated_probabilities(
    tmp_path: Path, trained_xgboost: TrainedModel
) -> None:
    calibration_dir = calibrate(trained_xgboost, tmp_path / "calibration", method="sigmoid")
    model_dir = extract(
        build_package(trained_xgboost.model_dir, tmp_path / "out", calibration_dir),
        tmp_path / "model",
    )
    rows = trained_xgboost.features.iloc[:10]
    raw = LoadedModel(trained_xgboost.model_dir).predict_proba(rows)
    calibrated = apply_calibration(raw, load_json(calibration_dir / "calibration.json"))

    predictions = json.loads(serve(model_dir, rows.to_csv(header=False, index=False), "text/csv"))[
        "predictions"
    ]
    assert [p["prob"] for p in predictions] == raw.tolist()
    assert [p["calibrated_prob"] for p in predictions] == calibrated.tolist()
    assert [p["label"] for p in predictions] == (calibrated >= 0.5).astype(int).tolist()


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "message"),
    [
        ("1,2,3\n", "text/csv", "application/json", "row 0 has 3 values but the model takes 31"),
        ("1,2\n1,2,3\n", "text/csv", "application/json", "different numbers of values"),
        (
            '{"instances": [{"mean radius": 1}]}',
            "application/json",
            "application/json",
            "instance 0 lacks features",
        ),
        ("{not json", "application/json", "application/json", "not valid JSON"),
        ("", "text/csv", "application/json", "no rows"),
        (
            "a=1",
            "application/x-www-form-urlencoded",
            "application/json",
            "unsupported content type",
        ),
        (None, "text/csv", "application/xml", "unsupported accept type"),
    ],
)
def test_bad_requests_raise_value_error(
    served: Path,
    trained_xgboost: TrainedModel,
    body: str | None,
    content_type: str,
    accept: str,
    message: str,
) -> None:
    if body is None:
        body = trained_xgboost.features.iloc[:1].to_csv(header=False, index=False)
    with pytest.raises(ValueError, match=message):
        serve(served, body, content_type, accept)


def test_responses_carry_their_content_type(served: Path, trained_xgboost: TrainedModel) -> None:
    """A bare string is served as text/html by the XGBoost image's worker; a (body, type) pair is
    served with that type by both SageMaker toolkits."""
    rows = trained_xgboost.features.iloc[:2].to_csv(header=False, index=False)
    for accept, expected_type in [
        ("application/json", "application/json"),
        ("text/csv", "text/csv"),
        ("*/*", "application/json"),
        ("text/html, text/csv;q=0.9", "text/csv"),
    ]:
        result = answer(served, rows, "text/csv", accept)
        assert isinstance(result, tuple)
        body, content_type = result
        assert content_type == expected_type
        assert result.encode() == body.encode()  # what servers expecting a bare body send


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status"),
    [
        ("1,2,3\n", "text/csv", "application/json", 400),
        ("{not json", "application/json", "application/json", 400),
        (b"\xff\xfe", "text/csv", "application/json", 400),
        ('[{"mean radius": [1, 2]}]', "application/json", "application/json", 400),
        ("a=1", "application/x-www-form-urlencoded", "application/json", 415),
        (None, "text/csv", "application/xml", 406),
    ],
)
def test_bad_requests_carry_their_http_status(
    served: Path,
    trained_xgboost: TrainedModel,
    body: str | bytes | None,
    content_type: str,
    accept: str,
    status: int,
) -> None:
    if body is None:
        body = trained_xgboost.features.iloc[:1].to_csv(header=False, index=False)
    with pytest.raises(inference.RequestError) as raised:
        serve(served, body, content_type, accept)
    assert raised.value.status_code == status
    assert str(raised.value) == raised.value.message  # the reason a client sees


def test_unknown_or_nested_json_features_are_the_clients_error(
    served: Path, trained_xgboost: TrainedModel
) -> None:
    record = json_instances(trained_xgboost.features.iloc[:1])[0]
    with pytest.raises(inference.RequestError, match=r"unknown features \[customer_id\]"):
        serve(served, json.dumps([{**record, "customer_id": 7}]), "application/json")
    nested = {**record, "mean radius": {"value": 1}}
    with pytest.raises(inference.RequestError, match=r"'mean radius'.*not a single value"):
        serve(served, json.dumps([nested]), "application/json")


def test_a_model_that_brings_its_own_loader_is_served_with_it(
    tmp_path: Path, trained_xgboost: TrainedModel
) -> None:
    """A framework outside the bundled library: its model folder carries `<loader>.py`, which
    LoadedModel, Package and the served model use instead of a bundled one."""
    import shutil

    import _tabular

    model_dir = tmp_path / "model"
    shutil.copytree(trained_xgboost.model_dir, model_dir)
    meta = json.loads((model_dir / "model_meta.json").read_text())
    meta.update(framework="constant", loader="_model_constant")
    (model_dir / "model_meta.json").write_text(json.dumps(meta))
    (model_dir / "_model_constant.py").write_text(
        "import numpy as np\n\n"
        "class Constant:\n"
        "    def predict_matrix(self, X):\n"
        "        return np.full(len(X), 0.25)\n\n"
        "def load(model_dir, meta, preprocessing):\n"
        "    return Constant()\n"
    )
    loaded = _tabular.LoadedModel(model_dir)
    assert set(loaded.predict_proba(trained_xgboost.features.head(3)).tolist()) == {0.25}
    archive = build_package(model_dir, tmp_path / "out")
    with tarfile.open(archive, "r:gz") as tar:
        names = tar.getnames()
    assert "_model_constant.py" in names and "code/_model_xgboost.py" not in names

    meta["loader"] = "_model_missing"
    (model_dir / "model_meta.json").write_text(json.dumps(meta))
    with pytest.raises(_tabular.StepInputError, match="has no model loader here"):
        _tabular.LoadedModel(model_dir)
