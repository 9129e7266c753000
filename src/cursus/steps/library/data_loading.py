"""DataLoading: read one table from a file, a bundled dataset or a generator; write it with its schema.

DATA_SOURCE forms:
- a local path or ``s3://`` / ``file://`` URI to a ``.csv``, ``.parquet`` or ``.jsonl``/``.json``
  (JSON lines) file, optionally compressed (``.gz``, ``.bz2``, ``.xz``, ``.zst``). A local file (a
  named pipe too) is read directly; a remote one through fsspec where it is installed, and
  otherwise (the SageMaker images have no fsspec, and jobs may have no internet to install it),
  for ``s3://``, with boto3, which every image has;
- ``sklearn:breast_cancer`` (binary; also ``wine``, 3 classes, ``digits``, 10 classes, or the first
  N of them with ``?n_class=N``, and ``diabetes``, a regression target), a bundled dataset for
  examples and tests;
- ``synthetic:classification?rows=1000&features=20&categorical=2&missing=0.05`` for benchmarks.

Every form accepts ``fraction=<0..1>`` and ``seed=<int>`` query parameters to subsample rows, and
``part=rest`` to take the rows that sample leaves out instead: two nodes reading
``...?fraction=0.3&seed=7`` and ``...?fraction=0.3&seed=7&part=rest`` get disjoint rows.
"""

from __future__ import annotations

import argparse
import bz2
import contextlib
import gzip
import hashlib
import json
import lzma
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, urlparse
from urllib.request import url2pathname

import numpy as np
import pandas as pd
from _tabular import StepInputError, env_int, env_str, save_json, write_table

CONTAINER_INPUTS: dict[str, str] = {}
CONTAINER_OUTPUTS = {
    "data": "/opt/ml/processing/output/data",
    "metadata": "/opt/ml/processing/output/metadata",
}
ENV_VARS = ["DATA_SOURCE", "LABEL_FIELD", "ID_FIELD", "RANDOM_SEED"]

SCHEMA_FILE = "schema.json"
FILE_SCHEMES = {"file", "s3"}
SUBSAMPLE_PARAMS = {"fraction", "seed", "part"}
SYNTHETIC_PARAMS = {"rows", "features", "categorical", "missing", "informative"}
SKLEARN_DATASETS = ("breast_cancer", "wine", "digits", "diabetes")
COMPRESSIONS = {".gz", ".bz2", ".xz", ".zst"}
FILE_READERS: dict[str, Callable[[Any], pd.DataFrame]] = {
    ".csv": pd.read_csv,
    ".parquet": pd.read_parquet,
    ".jsonl": lambda f: pd.read_json(f, lines=True),
    ".json": lambda f: pd.read_json(f, lines=True),
}


def main(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    source = env_str(environ_vars, "DATA_SOURCE")
    if source is None:
        raise StepInputError(
            "DATA_SOURCE is not set; give a file path, an s3:// URI, sklearn:breast_cancer or "
            "synthetic:classification?rows=1000"
        )
    label_field = env_str(environ_vars, "LABEL_FIELD", "label")
    id_field = env_str(environ_vars, "ID_FIELD")
    seed = env_int(environ_vars, "RANDOM_SEED", 0)

    df = read_source(source, label_field, id_field, seed)
    check_table(df, source, label_field, id_field)

    data_path = write_table(df, output_paths["data"])
    schema = build_schema(df, source, label_field, id_field, sha256_of(data_path))
    save_json(schema, Path(output_paths["metadata"]) / SCHEMA_FILE)
    return {"n_rows": float(len(df)), "n_columns": float(df.shape[1])}


def read_source(source: str, label_field: str, id_field: str | None, seed: int) -> pd.DataFrame:
    """The table a DATA_SOURCE names, with its generated id and its subsample applied: what the
    step writes (`cursus validate` reads labels through this too)."""
    location, params = split_query(source)
    subsample = {k: params.pop(k) for k in SUBSAMPLE_PARAMS & params.keys()}
    df = load_source(location, params, label_field, seed)
    df = add_generated_id(df, location, id_field)
    return subsample_rows(df, subsample, seed)


# ---------------------------------------------------------------- parsing DATA_SOURCE


def split_query(source: str) -> tuple[str, dict[str, str]]:
    """Separate `location?a=1&b=2`; a `?` is not a character real data files use in their names."""
    location, _, query = source.partition("?")
    params = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=False)) if query else {}
    return location, params


def scheme_of(location: str) -> str | None:
    """`s3` for s3://..., `sklearn` for sklearn:..., None for a plain local path."""
    if "://" in location:
        return location.split("://", 1)[0].lower()
    match = re.match(r"^([A-Za-z][A-Za-z0-9_]+):", location)
    return match.group(1).lower() if match else None


def load_source(location: str, params: dict[str, str], label_field: str, seed: int) -> pd.DataFrame:
    scheme = scheme_of(location)
    if scheme == "sklearn":
        name = location.split(":", 1)[1]
        reject_params(params, {"n_class"} if name == "digits" else set(), location)
        n_class = int_param(params, "n_class", 10, 2) if "n_class" in params else None
        if n_class is not None and n_class > 10:
            raise StepInputError(f"DATA_SOURCE {location!r}: digits has 10 classes; n_class <= 10")
        return load_sklearn(name, label_field, n_class)
    if scheme == "synthetic":
        reject_params(params, SYNTHETIC_PARAMS, location)
        return load_synthetic(location.split(":", 1)[1], params, label_field, seed)
    if scheme is None or scheme in FILE_SCHEMES:
        reject_params(params, set(), location)
        return load_file(location)
    raise StepInputError(
        f"DATA_SOURCE {location!r} has unknown scheme {scheme!r}; use a local path, s3://, file://, "
        "sklearn:<name> or synthetic:classification"
    )


def reject_params(params: dict[str, str], allowed: set[str], location: str) -> None:
    """A misspelt query parameter would otherwise be silently ignored."""
    unknown = sorted(params.keys() - allowed)
    if unknown:
        known = sorted(allowed | SUBSAMPLE_PARAMS)
        raise StepInputError(
            f"DATA_SOURCE {location!r}: unknown query parameter(s) {unknown}; known: {known}"
        )


def int_param(params: dict[str, str], name: str, default: int, minimum: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise StepInputError(
            f"DATA_SOURCE query parameter {name}={raw!r} is not an integer"
        ) from None
    if value < minimum:
        raise StepInputError(f"DATA_SOURCE query parameter {name}={value} must be >= {minimum}")
    return value


def fraction_param(params: dict[str, str], name: str, default: float, allow_zero: bool) -> float:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise StepInputError(
            f"DATA_SOURCE query parameter {name}={raw!r} is not a number"
        ) from None
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value <= 1):
        bounds = "[0, 1]" if allow_zero else "(0, 1]"
        raise StepInputError(f"DATA_SOURCE query parameter {name}={value} must be in {bounds}")
    return value


# ---------------------------------------------------------------- the three kinds of source


def load_file(location: str) -> pd.DataFrame:
    suffix = table_suffix(location)
    reader = FILE_READERS.get(suffix)
    if reader is None:
        raise StepInputError(
            f"DATA_SOURCE {location!r}: cannot tell the format from the extension "
            f"{suffix or '(none)'}; use one of {sorted(FILE_READERS)} (optionally .gz)"
        )
    try:
        with open_source(location) as handle:
            return reader(handle)
    except FileNotFoundError:
        raise StepInputError(
            f"DATA_SOURCE file {location} does not exist; check the path (and, for s3://, the "
            "bucket and key)"
        ) from None
    except IsADirectoryError:
        raise StepInputError(
            f"DATA_SOURCE {location} is a directory; point it at one .csv/.parquet/.jsonl file"
        ) from None
    except (ValueError, pd.errors.ParserError) as exc:
        hint = " (JSON lines: one object per line)" if suffix in {".json", ".jsonl"} else ""
        raise StepInputError(
            f"DATA_SOURCE file {location} is not valid {suffix} data{hint}: {exc}"
        ) from None


def open_source(location: str) -> Any:
    """A binary handle on the (decompressed) file: a local file directly (a named pipe too, which
    fsspec's local files, seeking to learn their size, cannot read); other schemes through fsspec
    when installed, so any filesystem it knows works; else the s3:// object fetched with boto3."""
    if scheme_of(location) in (None, "file"):
        return _open_without_fsspec(location)
    try:
        import fsspec
    except ImportError:
        return _open_without_fsspec(location)
    return fsspec.open(location, "rb", compression="infer")


@contextlib.contextmanager
def _open_without_fsspec(location: str) -> Iterator[BinaryIO]:
    scheme = scheme_of(location)
    with contextlib.ExitStack() as stack:
        if scheme == "s3":
            raw: BinaryIO = stack.enter_context(tempfile.TemporaryFile())
            _download_s3(location, raw)
        else:
            path = url2pathname(urlparse(location).path) if scheme == "file" else location
            raw = stack.enter_context(open(path, "rb"))
        yield stack.enter_context(_decompressed(raw, location))


def _decompressed(raw: BinaryIO, location: str) -> Any:
    """The handle itself, or a decompressing reader over it, by the file's last extension."""
    suffix = Path(location.split("://", 1)[-1]).suffix.lower()
    if suffix == ".gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if suffix == ".bz2":
        return bz2.BZ2File(raw, "rb")
    if suffix == ".xz":
        return lzma.LZMAFile(raw, "rb")
    if suffix == ".zst":
        try:
            import zstandard
        except ImportError:
            raise StepInputError(
                f"DATA_SOURCE {location}: reading .zst needs the zstandard package, which this "
                "image lacks; store the file uncompressed or as .gz"
            ) from None
        return zstandard.ZstdDecompressor().stream_reader(raw)
    return contextlib.nullcontext(raw)


def _download_s3(location: str, target: BinaryIO) -> None:
    """Copy s3://bucket/key into `target` with boto3 (which honours AWS_ENDPOINT_URL and the job's
    role); a missing bucket or key becomes FileNotFoundError, as fsspec reports it."""
    import boto3
    from botocore.exceptions import ClientError

    bucket, _, key = location.split("://", 1)[1].partition("/")
    if not bucket or not key:
        raise StepInputError(f"DATA_SOURCE {location} is not s3://<bucket>/<key>")
    try:
        boto3.client("s3").download_fileobj(bucket, key, target)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NoSuchBucket"):
            raise FileNotFoundError(location) from None
        raise
    target.seek(0)


def table_suffix(location: str) -> str:
    """The format extension, looking through a compression one: table.csv.gz -> .csv."""
    path = Path(location.split("://", 1)[-1])
    if path.suffix.lower() in COMPRESSIONS:
        path = path.with_suffix("")
    return path.suffix.lower()


def load_sklearn(name: str, label_field: str, n_class: int | None = None) -> pd.DataFrame:
    """Bundled datasets; feature names become snake_case so they are safe as column names anywhere."""
    from sklearn import datasets

    if name not in SKLEARN_DATASETS:
        raise StepInputError(
            f"DATA_SOURCE sklearn:{name} is not available; use one of "
            f"{[f'sklearn:{n}' for n in SKLEARN_DATASETS]}"
        )
    options = {"n_class": n_class} if n_class is not None else {}
    bunch = getattr(datasets, f"load_{name}")(as_frame=True, **options)
    features = bunch.data.rename(columns=lambda c: re.sub(r"\W+", "_", str(c)).strip("_").lower())
    if label_field in features.columns:
        raise StepInputError(
            f"LABEL_FIELD {label_field!r} clashes with a feature of sklearn:{name}"
        )
    return features.assign(**{label_field: bunch.target.to_numpy()})


def load_synthetic(kind: str, params: dict[str, str], label_field: str, seed: int) -> pd.DataFrame:
    """A logistic model over Gaussian features: learnable, with a known signal, and fast at 1M rows."""
    if kind != "classification":
        raise StepInputError(
            f"DATA_SOURCE synthetic:{kind} is unknown; use synthetic:classification?rows=1000&features=20"
        )
    rows = int_param(params, "rows", 1000, 1)
    n_features = int_param(params, "features", 20, 1)
    n_categorical = int_param(params, "categorical", 0, 0)
    if n_categorical > n_features:
        raise StepInputError(
            f"DATA_SOURCE: categorical={n_categorical} exceeds features={n_features}; the categorical "
            "columns are counted among the features"
        )
    n_numeric = n_features - n_categorical
    informative = int_param(params, "informative", min(n_numeric, 10), 0)
    missing = fraction_param(params, "missing", 0.0, allow_zero=True)
    rng = np.random.default_rng(seed)

    numeric = rng.standard_normal((rows, n_numeric), dtype=np.float32)
    weights = np.zeros(n_numeric, dtype=np.float32)
    weights[: min(informative, n_numeric)] = rng.uniform(0.5, 1.5, min(informative, n_numeric))
    weights *= rng.choice(np.array([-1.0, 1.0], dtype=np.float32), n_numeric)
    logit = numeric @ weights
    columns: dict[str, Any] = {f"f{i}": numeric[:, i] for i in range(n_numeric)}
    for j in range(n_categorical):
        codes, effect = synthetic_categorical(rng, rows)
        logit += effect
        columns[f"cat{j}"] = codes
    labels = (rng.random(rows, dtype=np.float32) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    df = pd.DataFrame(columns)
    inject_missing(df, missing, rng)
    df[label_field] = labels
    return df


def synthetic_categorical(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """A five-level string column whose level shifts the logit, so encoding it pays off."""
    levels = np.array(["a", "b", "c", "d", "e"], dtype=object)
    level_effect = rng.normal(0.0, 1.0, len(levels)).astype(np.float32)
    codes = rng.integers(0, len(levels), rows)
    return levels[codes], level_effect[codes]


def inject_missing(df: pd.DataFrame, fraction: float, rng: np.random.Generator) -> None:
    """Blank each feature cell with probability `fraction` (NaN for numbers, None for strings)."""
    if fraction <= 0:
        return
    for column in df.columns:
        mask = rng.random(len(df)) < fraction
        df[column] = df[column].mask(mask)


# ---------------------------------------------------------------- shaping and checking


def add_generated_id(df: pd.DataFrame, location: str, id_field: str | None) -> pd.DataFrame:
    """Generated sources have no id column; give them one when ID_FIELD asks for it."""
    if id_field and id_field not in df.columns and scheme_of(location) in {"sklearn", "synthetic"}:
        return pd.concat([pd.Series(np.arange(len(df)), name=id_field), df], axis=1)
    return df


def subsample_rows(df: pd.DataFrame, params: dict[str, str], seed: int) -> pd.DataFrame:
    """Keep a seeded random `fraction` of rows (or, with part=rest, the others), in their order."""
    fraction = fraction_param(params, "fraction", 1.0, allow_zero=False)
    part = params.get("part", "sample")
    if part not in ("sample", "rest"):
        raise StepInputError(
            f"DATA_SOURCE query parameter part={part!r}: use part=sample or part=rest"
        )
    if fraction >= 1.0:
        if part == "rest":
            raise StepInputError("DATA_SOURCE part=rest needs fraction below 1, or nothing is left")
        return df
    sample_seed = int_param(params, "seed", seed, 0)
    sampled = df.sample(frac=fraction, random_state=sample_seed).index
    keep = sampled.sort_values() if part == "sample" else df.index.difference(sampled)
    return df.loc[keep].reset_index(drop=True)


def check_table(df: pd.DataFrame, source: str, label_field: str, id_field: str | None) -> None:
    if df.empty:
        raise StepInputError(
            f"DATA_SOURCE {source} gave an empty table; check the file or raise fraction="
        )
    for role, name in (("LABEL_FIELD", label_field), ("ID_FIELD", id_field)):
        if name and name not in df.columns:
            shown = list(map(str, df.columns[:20])) + (["..."] if df.shape[1] > 20 else [])
            raise StepInputError(
                f"{role} column {name!r} is not in DATA_SOURCE {source}; columns are {shown}. "
                f"Set {role} to one of them"
            )
    duplicated = df.columns[df.columns.duplicated()].tolist()
    if duplicated:
        raise StepInputError(f"DATA_SOURCE {source} has duplicated column names {duplicated}")


def build_schema(
    df: pd.DataFrame, source: str, label_field: str, id_field: str | None, digest: str
) -> dict[str, Any]:
    def role(column: str) -> str:
        if column == label_field:
            return "label"
        return "id" if column == id_field else "feature"

    return {
        "columns": [
            {"name": str(c), "dtype": str(df[c].dtype), "role": role(c)} for c in df.columns
        ],
        "n_rows": len(df),
        "source": source,
        "label_field": label_field,
        "id_field": id_field,
        "content_sha256": digest,
    }


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--job_type", "--job-type", dest="job_type", default="training")
    args = parser.parse_args()
    for folder in CONTAINER_OUTPUTS.values():
        os.makedirs(folder, exist_ok=True)
    environ = {name: os.environ[name] for name in ENV_VARS if name in os.environ}
    print(
        json.dumps(
            main({}, dict(CONTAINER_OUTPUTS), environ, {"job_type": args.job_type}), indent=2
        )
    )
