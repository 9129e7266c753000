"""SageMaker serving handler, packaged as model.tar.gz/code/inference.py next to _tabular.py.

The serving container calls model_fn once, then input_fn -> predict_fn -> output_fn per request.
Scoring goes through `_tabular.LoadedModel` and `_tabular.apply_calibration`, the same code the
evaluation and calibration steps ran, so an endpoint answers exactly what the pipeline measured.

output_fn returns an `Answer`, the (body, content type) pair both SageMaker toolkits send with that
Content-Type. A bad request is a `RequestError` (400 malformed body or wrong columns, 415 content
type, 406 accept), and each of the three servers that run this file needs it its own way:
- sagemaker-inference's Transformer (the PyTorch image; the XGBoost image's multi-model mode)
  answers an exception derived from its BaseInferenceToolkitError with that exception's status,
  so RequestError derives from it wherever sagemaker_inference is importable;
- sagemaker-containers' Flask worker (the XGBoost image's single-model server) turns every
  exception of a handler function into a 500, but sends whatever output_fn returns as it is; so,
  inside that worker, a bad request travels from input_fn/predict_fn to output_fn as a
  `Rejected` value and output_fn answers it with a Flask response carrying the status;
- Cursus' own server (`cursus serve`) maps a ValueError to a 4xx, and RequestError is one.
The toolkits are imported only when present: none is needed to load or run this module.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import _tabular
import numpy as np
import pandas as pd

CSV = "text/csv"
JSON = "application/json"
THRESHOLD = 0.5
SCORE_ROWS = 2048  # rows scored at a time (request_frames)
# calibrations whose output is a probability; a percentile level is a rank, not a probability,
# so the label for a percentile-calibrated model is decided on the raw probability
PROBABILITY_CALIBRATIONS = ("isotonic", "sigmoid", "platt", "gam")
BAD_REQUEST, NOT_ACCEPTABLE, UNSUPPORTED_MEDIA_TYPE, UNPROCESSABLE = 400, 406, 415, 422


# ---------------------------------------------------------------- errors and answers


def _toolkit_error_bases() -> tuple[type, ...]:
    """sagemaker-inference's error base when that toolkit is installed, so its Transformer
    answers a RequestError with the error's status instead of a 500."""
    try:
        from sagemaker_inference.errors import BaseInferenceToolkitError
    except ImportError:
        return ()
    return (BaseInferenceToolkitError,)


class RequestError(ValueError, *_toolkit_error_bases()):  # type: ignore[misc]
    """A request this model cannot answer: HTTP `status_code` with a message for the client.

    The attributes are the ones sagemaker-inference reads (status_code, message, phrase); the
    string is the message alone, which is what Cursus' server shows.
    """

    def __init__(self, status_code: int, message: str) -> None:
        ValueError.__init__(self, message)
        self.status_code = status_code
        self.message = message
        self.phrase = HTTPStatus(status_code).phrase

    def __str__(self) -> str:
        return self.message


class Answer(tuple):
    """output_fn's result: the pair (body, content type) that both SageMaker toolkits send as a
    response with that Content-Type.

    It also has str's `encode`, because servers written when output_fn returned the body alone
    (Cursus' `cursus serve` renders the result with `.encode()`) must still send the body.
    """

    def __new__(cls, body: str, content_type: str) -> Answer:
        return super().__new__(cls, (body, content_type))

    @property
    def body(self) -> str:
        return self[0]

    @property
    def content_type(self) -> str:
        return self[1]

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.body.encode(encoding, errors)


@dataclass(frozen=True)
class Rejected:
    """A bad request on its way to output_fn, inside the Flask worker (see the module doc)."""

    error: RequestError


def _in_flask_worker() -> bool:
    """True while sagemaker-containers' Flask worker is answering a request: the one server
    where a raised RequestError would become a 500."""
    flask = sys.modules.get("flask")
    return (
        "sagemaker_containers" in sys.modules
        and flask is not None
        and bool(flask.has_request_context())
    )


def _reject(error: RequestError) -> Rejected:
    """Raise `error` where the server maps it to its status; carry it along where it cannot."""
    if _in_flask_worker():
        return Rejected(error)
    raise error


def _error_response(error: RequestError) -> Any:
    """The Flask response sagemaker-containers' worker sends as it is, with the error's status."""
    from sagemaker_containers.beta.framework import worker

    body = json.dumps({"error": error.message, "status": error.status_code})
    return worker.Response(response=body, status=error.status_code, mimetype=JSON)


@dataclass(frozen=True)
class ServingModel:
    """What model_fn loads: the model with its preprocessing, and the calibration if packaged."""

    model: _tabular.LoadedModel
    calibration: dict[str, Any] | None

    @property
    def features(self) -> list[str]:
        return self.model.features


@dataclass(frozen=True)
class Request:
    """Parsed rows: positional (CSV, or JSON lists) in the model's feature order, or named (JSON
    objects). Matching them to the features needs the model, so predict_fn does it."""

    rows: list[list[Any]] | None = None
    records: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class Prediction:
    """One answer per row, as flat {name: value} records (the keys are the CSV columns):
    binary: prob, calibrated_prob (if calibrated), label (0/1);
    multiclass: prob_<k> per class, calibrated_prob_<k> (if calibrated), label (the class
    index) and class (the class as the training data named it);
    regression: prediction."""

    rows: list[dict[str, Any]]


# ---------------------------------------------------------------- the four handler functions


def model_fn(model_dir: str) -> ServingModel:
    calibration_path = Path(model_dir) / _tabular.CALIBRATION_FILE
    calibration = _tabular.load_json(calibration_path) if calibration_path.is_file() else None
    return ServingModel(model=_tabular.LoadedModel(model_dir), calibration=calibration)


def input_fn(request_body: str | bytes, content_type: str | None) -> Request | Rejected:
    try:
        return parse_request(request_body, content_type)
    except RequestError as error:
        return _reject(error)


def predict_fn(data: Request | Rejected, model: ServingModel) -> Prediction | Rejected:
    if isinstance(data, Rejected):
        return data
    try:
        frames = request_frames(data, model.features)
    except RequestError as error:
        return _reject(error)
    scores = np.concatenate([model.model.predict_proba(frame) for frame in frames])
    problem_type = model.model.problem_type
    if problem_type == _tabular.REGRESSION:
        return Prediction(rows=[{"prediction": float(v)} for v in scores])
    calibrated = None
    decision = scores
    if model.calibration is not None:
        calibrated = _tabular.apply_calibration(scores, model.calibration)
        if model.calibration["method"] in PROBABILITY_CALIBRATIONS:
            decision = calibrated
    if problem_type == _tabular.MULTICLASS:
        return Prediction(rows=_multiclass_rows(scores, calibrated, decision, model.model.classes))
    rows = []
    for i in range(len(scores)):
        row: dict[str, Any] = {"prob": float(scores[i])}
        if calibrated is not None:
            row["calibrated_prob"] = float(calibrated[i])
        row["label"] = int(decision[i] >= THRESHOLD)
        rows.append(row)
    return Prediction(rows=rows)


def _multiclass_rows(
    scores: np.ndarray, calibrated: np.ndarray | None, decision: np.ndarray, classes: list[str]
) -> list[dict[str, Any]]:
    names = _tabular.prob_columns(scores.shape[1])
    rows = []
    for i in range(len(scores)):
        row: dict[str, Any] = {name: float(scores[i, k]) for k, name in enumerate(names)}
        if calibrated is not None:
            row.update({f"calibrated_{n}": float(calibrated[i, k]) for k, n in enumerate(names)})
        index = int(decision[i].argmax())
        row["label"] = index
        row["class"] = classes[index] if index < len(classes) else str(index)
        rows.append(row)
    return rows


def output_fn(prediction: Prediction | Rejected, accept: str | None) -> Any:
    """An Answer (body, content type); inside the Flask worker, a bad request's error response."""
    if isinstance(prediction, Rejected):
        return _error_response(prediction.error)
    try:
        media_type = _accepted_type(accept)
    except RequestError as error:
        if _in_flask_worker():
            return _error_response(error)
        raise
    if media_type == CSV:
        body = "".join(",".join(_csv_cells(row)) + "\n" for row in _rows(prediction))
    else:
        body = json.dumps({"predictions": _rows(prediction)})
    return Answer(body, media_type)


# ---------------------------------------------------------------- parsing


def parse_request(request_body: str | bytes, content_type: str | None) -> Request:
    """The rows of a CSV or JSON body; a RequestError (415 or 400) says what is wrong with it."""
    media_type = _media_type(content_type)
    if media_type not in (CSV, JSON):
        raise RequestError(
            UNSUPPORTED_MEDIA_TYPE,
            f"unsupported content type {content_type!r}; send {CSV} or {JSON}",
        )
    text = _request_text(request_body)
    return Request(rows=_parse_csv(text)) if media_type == CSV else _parse_json(text)


def _request_text(request_body: Any) -> str:
    """The toolkits hand over str for text types and bytes (or MMS' bytearray) otherwise."""
    if not isinstance(request_body, (bytes, bytearray, memoryview)):
        return str(request_body)
    try:
        return bytes(request_body).decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestError(BAD_REQUEST, f"request body is not UTF-8 text: {error}") from None


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _accepted_type(accept: str | None) -> str:
    """The first type in an Accept header this handler can write; JSON when anything goes."""
    listed = [_media_type(part) for part in (accept or "").split(",") if part.strip()]
    for media_type in listed or ["*/*"]:
        if media_type in (CSV, JSON):
            return media_type
        if media_type in ("*/*", "application/*"):
            return JSON
    raise RequestError(
        NOT_ACCEPTABLE, f"unsupported accept type {accept!r}; ask for {JSON} or {CSV}"
    )


def _parse_csv(text: str) -> list[list[Any]]:
    try:
        # a loop, not list(reader): one C call over a big body would hold the GIL throughout
        parsed = [row for row in csv.reader(io.StringIO(text))]
    except csv.Error as error:
        if "field larger than field limit" in str(error):
            raise RequestError(
                UNPROCESSABLE,
                f"a CSV field is longer than {csv.field_size_limit()} characters; no feature "
                "value is that long",
            ) from None
        raise RequestError(BAD_REQUEST, f"request body is not valid CSV: {error}") from None
    rows = [[cell.strip() or None for cell in row] for row in parsed if any(c.strip() for c in row)]
    widths = sorted({len(row) for row in rows})
    if len(widths) > 1:
        raise RequestError(
            BAD_REQUEST,
            f"CSV rows have different numbers of values ({widths}); send one value per feature "
            "in every row",
        )
    return rows


def _parse_json(text: str) -> Request:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise RequestError(BAD_REQUEST, f"request body is not valid JSON: {error}") from None
    except RecursionError:
        raise RequestError(
            UNPROCESSABLE, "the JSON body is nested too deep; send a list of flat instances"
        ) from None
    except ValueError as error:  # an integer of thousands of digits
        raise RequestError(
            UNPROCESSABLE, f"a number in the JSON body is too long: {error}"
        ) from None
    instances = document.get("instances", document) if isinstance(document, dict) else document
    if isinstance(instances, dict):
        instances = [instances]
    if not isinstance(instances, list):
        raise RequestError(
            BAD_REQUEST,
            'JSON body must be {"instances": [...]}, a list of instances or one instance object',
        )
    if all(isinstance(item, dict) for item in instances):
        return Request(records=instances)
    if all(isinstance(item, list) for item in instances):
        return Request(rows=instances)
    raise RequestError(
        BAD_REQUEST,
        "JSON instances must all be objects {feature: value} or all be lists in feature order",
    )


def request_frames(data: Request, features: list[str]) -> list[pd.DataFrame]:
    """The request as tables of at most SCORE_ROWS rows with the model's feature columns, or a
    400 saying what is off. Scoring a big request in parts keeps each call into pandas and the
    model short, so a server answers its health checks meanwhile (they wait for the GIL)."""
    rows = request_rows(data, features)
    return [
        pd.DataFrame(rows[start : start + SCORE_ROWS], columns=features, dtype=object)
        for start in range(0, len(rows), SCORE_ROWS)
    ]


def request_frame(data: Request, features: list[str]) -> pd.DataFrame:
    """The request as one table with the model's feature columns, or a 400."""
    return pd.DataFrame(request_rows(data, features), columns=features, dtype=object)


def request_rows(data: Request, features: list[str]) -> list[list[Any]]:
    """The request's rows in feature order, checked, or a 400 saying what is off."""
    if data.records is not None:
        rows = [_record_row(i, record, features) for i, record in enumerate(data.records)]
    else:
        rows = list(data.rows or [])
        if rows and [str(v) for v in rows[0]] == features:
            rows = rows[1:]  # a header row naming the features in order
        for i, row in enumerate(rows):
            if len(row) != len(features):
                raise RequestError(
                    BAD_REQUEST,
                    f"row {i} has {len(row)} values but the model takes {len(features)} "
                    f"features: {_preview(features)}",
                )
    if not rows:
        raise RequestError(BAD_REQUEST, "the request holds no rows")
    _check_single_values(rows, features)
    return rows


def _record_row(i: int, record: dict[str, Any], features: list[str]) -> list[Any]:
    """A JSON object's values in feature order; missing or unknown names are the client's error."""
    missing = [f for f in features if f not in record]
    if missing:
        raise RequestError(
            BAD_REQUEST,
            f"instance {i} lacks features {_preview(missing)}; send every feature (null if unknown)",
        )
    known = set(features)
    unknown = [str(k) for k in record if k not in known]
    if unknown:
        raise RequestError(
            BAD_REQUEST,
            f"instance {i} has unknown features {_preview(unknown)}; the model takes "
            f"{_preview(features)}",
        )
    return [record[f] for f in features]


def _check_single_values(rows: list[list[Any]], features: list[str]) -> None:
    """A nested list or object where a value belongs would fail deep in scoring, as a 500."""
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if isinstance(value, (list, dict)):
                raise RequestError(
                    BAD_REQUEST,
                    f"row {i}, feature {features[j]!r}: {json.dumps(value)[:40]} is not a "
                    "single value",
                )
            if not finite_or_text(value):
                raise RequestError(
                    UNPROCESSABLE,
                    f"row {i}, feature {features[j]!r}: {str(value)[:40]} is not a finite number; "
                    "send a finite one, or null when unknown",
                )


def finite_or_text(value: Any) -> bool:
    """False for a number (or numeric text: 1e999, a thousand 9s) that is infinite as a float;
    NaN stays a missing value, text that is no number stays a category."""
    if isinstance(value, bool) or value is None:
        return True
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        return False
    except (TypeError, ValueError):
        return True
    return not math.isinf(number)


def _preview(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return f"[{shown}{', ...' if len(names) > limit else ''}] ({len(names)})"


# ---------------------------------------------------------------- writing


def _rows(prediction: Prediction) -> list[dict[str, Any]]:
    return prediction.rows


def _csv_cells(row: dict[str, Any]) -> list[str]:
    """Numbers as Python writes them; a class name as CSV text (quoted where it must be)."""
    cells = []
    for value in row.values():
        if isinstance(value, str):
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="").writerow([value])
            cells.append(buffer.getvalue())
        else:
            cells.append(repr(value))
    return cells
