"""DataLoading reads files (local or s3://), bundled and synthetic datasets, and writes the table with
a schema whose digest is the digest of the written bytes."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import data_loading
import numpy as np
import pandas as pd
import pytest
import yaml
from _tabular import StepInputError

SPEC = Path(__file__).resolve().parents[2] / "src/cursus/steps/library/data_loading.step.yaml"


def load(source: str, out: Path, **env: str) -> tuple[pd.DataFrame, dict, dict[str, float]]:
    """Run the step and read back what it wrote."""
    outputs = {"data": str(out / "data"), "metadata": str(out / "metadata")}
    metrics = data_loading.main(
        {}, outputs, {"DATA_SOURCE": source, **env}, {"job_type": "training"}
    )
    df = pd.read_parquet(out / "data" / "data.parquet")
    schema = json.loads((out / "metadata" / "schema.json").read_text())
    return df, schema, metrics


def test_contract_matches_spec() -> None:
    contract = yaml.safe_load(SPEC.read_text())["contract"]
    assert contract["inputs"] == data_loading.CONTAINER_INPUTS
    assert contract["outputs"] == data_loading.CONTAINER_OUTPUTS
    assert list(contract["env"]) == data_loading.ENV_VARS


def test_breast_cancer_with_schema_and_digest(tmp_path: Path) -> None:
    df, schema, metrics = load("sklearn:breast_cancer", tmp_path, LABEL_FIELD="diagnosis")

    assert df.shape == (569, 31)
    assert set(df["diagnosis"].unique()) == {0, 1}
    assert "mean_radius" in df.columns  # names made safe: "mean radius" -> "mean_radius"
    assert metrics == {"n_rows": 569.0, "n_columns": 31.0}
    roles = {c["name"]: c["role"] for c in schema["columns"]}
    assert roles["diagnosis"] == "label"
    assert set(roles.values()) == {"feature", "label"}
    assert [c["name"] for c in schema["columns"]] == list(df.columns)
    written = (tmp_path / "data" / "data.parquet").read_bytes()
    assert schema["content_sha256"] == hashlib.sha256(written).hexdigest()
    assert schema | {"columns": None} == {
        "columns": None,
        "n_rows": 569,
        "source": "sklearn:breast_cancer",
        "label_field": "diagnosis",
        "id_field": None,
        "content_sha256": schema["content_sha256"],
    }


def test_generated_sources_get_an_id_column_when_asked(tmp_path: Path) -> None:
    df, schema, _ = load("sklearn:breast_cancer", tmp_path, ID_FIELD="row_id")

    assert df.columns[0] == "row_id"
    assert df["row_id"].tolist() == list(range(569))
    assert {c["name"]: c["role"] for c in schema["columns"]}["row_id"] == "id"


def test_fraction_subsamples_reproducibly_and_keeps_row_order(tmp_path: Path) -> None:
    source = "sklearn:breast_cancer?fraction=0.5&seed=7"
    first, schema_a, _ = load(source, tmp_path / "a", ID_FIELD="id")
    _, schema_b, _ = load(source, tmp_path / "b", ID_FIELD="id")
    other, _, _ = load("sklearn:breast_cancer?fraction=0.5&seed=8", tmp_path / "c", ID_FIELD="id")

    assert len(first) == 284
    assert first["id"].is_monotonic_increasing
    assert schema_a["content_sha256"] == schema_b["content_sha256"]
    assert first["id"].tolist() != other["id"].tolist()


def test_synthetic_has_requested_shape_categoricals_and_missing_values(tmp_path: Path) -> None:
    source = "synthetic:classification?rows=4000&features=6&categorical=2&missing=0.1"
    df, schema, _ = load(source, tmp_path, RANDOM_SEED="3")

    assert df.shape == (4000, 7)
    assert [c for c in df.columns if df[c].dtype == object] == ["cat0", "cat1"]
    assert set(df["cat0"].dropna()) == set("abcde")
    features = df.drop(columns="label")
    assert features.isna().mean().between(0.08, 0.12).all()
    assert df["label"].notna().all()
    assert 0.3 < df["label"].mean() < 0.7
    assert {c["name"]: c["dtype"] for c in schema["columns"]}["cat0"] == "object"


def test_synthetic_has_learnable_signal(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    df, _, _ = load("synthetic:classification?rows=3000&features=8", tmp_path)
    X, y = df.drop(columns="label").to_numpy(), df["label"].to_numpy()
    model = LogisticRegression().fit(X[:2000], y[:2000])
    assert roc_auc_score(y[2000:], model.predict_proba(X[2000:])[:, 1]) > 0.8


def test_synthetic_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    source = "synthetic:classification?rows=500&features=4&categorical=1&missing=0.05"
    _, a, _ = load(source, tmp_path / "a", RANDOM_SEED="1")
    _, b, _ = load(source, tmp_path / "b", RANDOM_SEED="1")
    _, c, _ = load(source, tmp_path / "c", RANDOM_SEED="2")

    assert a["content_sha256"] == b["content_sha256"] != c["content_sha256"]


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet", ".jsonl"])
def test_reads_local_files_by_extension(tmp_path: Path, suffix: str) -> None:
    table = pd.DataFrame({"id": [10, 11, 12], "x": [0.5, np.nan, 2.0], "y": [1, 0, 1]})
    path = tmp_path / f"table{suffix}"
    {
        ".csv": lambda: table.to_csv(path, index=False),
        ".csv.gz": lambda: table.to_csv(path, index=False),  # pandas compresses by extension
        ".parquet": lambda: table.to_parquet(path, index=False),
        ".jsonl": lambda: table.to_json(path, orient="records", lines=True),
    }[suffix]()

    df, schema, _ = load(str(path), tmp_path / "out", LABEL_FIELD="y", ID_FIELD="id")

    pd.testing.assert_frame_equal(df, table, check_dtype=False)
    assert {c["name"]: c["role"] for c in schema["columns"]} == {
        "id": "id",
        "x": "feature",
        "y": "label",
    }


@pytest.mark.parametrize(
    ("source", "env", "named"),
    [
        ("gs://bucket/table.csv", {}, "'gs'"),
        ("{missing}", {}, "nowhere.csv"),
        ("{csv}", {"LABEL_FIELD": "target"}, "'target'"),
        ("{csv}", {"ID_FIELD": "customer"}, "'customer'"),
        ("{empty}", {}, "empty"),
        ("{csv}?frac=0.5", {}, "frac"),
        ("{csv}?fraction=1.5", {}, "fraction"),
        ("{dir}/table.xlsx", {}, ".xlsx"),
        ("sklearn:iris_flowers", {}, "iris_flowers"),
        ("synthetic:regression?rows=10", {}, "regression"),
        ("synthetic:classification?rows=ten", {}, "rows"),
        ("", {}, "DATA_SOURCE"),
    ],
)
def test_bad_sources_name_the_problem(
    tmp_path: Path, source: str, env: dict[str, str], named: str
) -> None:
    csv = tmp_path / "table.csv"
    pd.DataFrame({"x": [1, 2], "label": [0, 1]}).to_csv(csv, index=False)
    empty = tmp_path / "empty.csv"
    empty.write_text("x,label\n")
    source = source.format(missing=tmp_path / "nowhere.csv", csv=csv, empty=empty, dir=tmp_path)

    with pytest.raises(StepInputError, match=named.replace(".", r"\.")):
        load(source, tmp_path / "out", **env)


# ---------------------------------------------------------------- s3 through a real moto server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A local S3 (moto) that s3fs reaches through AWS_ENDPOINT_URL, as it would a real endpoint."""
    import s3fs
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        yield endpoint
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


def test_reads_csv_from_s3(s3_endpoint: str, tmp_path: Path) -> None:
    import boto3

    table = pd.DataFrame({"amount": [3.5, 1.0, 7.25, 2.0], "fraud": [1, 0, 1, 0]})
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="raw")
    s3.put_object(Bucket="raw", Key="2024/tx.csv", Body=table.to_csv(index=False).encode())

    df, schema, _ = load("s3://raw/2024/tx.csv", tmp_path, LABEL_FIELD="fraud")

    pd.testing.assert_frame_equal(df, table)
    assert schema["source"] == "s3://raw/2024/tx.csv"
    with pytest.raises(StepInputError, match=re.escape("s3://raw/2024/absent.csv")):
        load("s3://raw/2024/absent.csv", tmp_path / "again", LABEL_FIELD="fraud")


# ---------------------------------------------------------------- without fsspec (the SageMaker images)


@pytest.fixture
def no_fsspec(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `import fsspec` fail, as it does in the SageMaker images."""
    monkeypatch.setitem(sys.modules, "fsspec", None)


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".parquet", ".jsonl"])
def test_reads_local_files_without_fsspec(no_fsspec: None, tmp_path: Path, suffix: str) -> None:
    table = pd.DataFrame({"id": [10, 11, 12], "x": [0.5, np.nan, 2.0], "y": [1, 0, 1]})
    path = tmp_path / f"table{suffix}"
    if suffix == ".parquet":
        table.to_parquet(path, index=False)
    elif suffix == ".jsonl":
        table.to_json(path, orient="records", lines=True)
    else:
        table.to_csv(path, index=False)  # pandas compresses by extension

    for source in (str(path), path.as_uri()):
        df, _, _ = load(source, tmp_path / "out", LABEL_FIELD="y", ID_FIELD="id")
        pd.testing.assert_frame_equal(df, table, check_dtype=False)
    with pytest.raises(StepInputError, match="does not exist"):
        load(str(tmp_path / f"absent{suffix}"), tmp_path / "out", LABEL_FIELD="y")


def test_reads_s3_with_boto3_without_fsspec(
    s3_endpoint: str, no_fsspec: None, tmp_path: Path
) -> None:
    import boto3

    table = pd.DataFrame({"amount": [3.5, 1.0, 7.25, 2.0], "fraud": [1, 0, 1, 0]})
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="raw")
    s3.put_object(
        Bucket="raw", Key="2024/tx.csv.gz", Body=gzip.compress(table.to_csv(index=False).encode())
    )

    df, _, _ = load("s3://raw/2024/tx.csv.gz", tmp_path, LABEL_FIELD="fraud")

    pd.testing.assert_frame_equal(df, table)
    for absent in ("s3://raw/2024/absent.csv", "s3://no-such-bucket/tx.csv"):
        with pytest.raises(StepInputError, match=re.escape(absent)):
            load(absent, tmp_path / "again", LABEL_FIELD="fraud")


def test_part_rest_takes_exactly_the_rows_the_sample_leaves(tmp_path: Path) -> None:
    import data_loading

    def load(source: str, name: str) -> pd.DataFrame:
        out = {"data": str(tmp_path / name / "data"), "metadata": str(tmp_path / name / "meta")}
        data_loading.main({}, out, {"DATA_SOURCE": source, "ID_FIELD": "row_id"}, {"job_type": "x"})
        return pd.read_parquet(tmp_path / name / "data" / "data.parquet")

    sample = load("sklearn:breast_cancer?fraction=0.3&seed=7", "a")
    rest = load("sklearn:breast_cancer?fraction=0.3&seed=7&part=rest", "b")
    assert set(sample["row_id"]).isdisjoint(rest["row_id"])
    assert len(sample) + len(rest) == 569
    with pytest.raises(data_loading.StepInputError, match="part"):
        load("sklearn:breast_cancer?fraction=0.3&part=other", "c")
