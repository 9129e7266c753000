"""SageMaker serving handler, packaged as model.tar.gz/code/inference.py next to _tabular.py.

The serving container calls model_fn once, then input_fn -> predict_fn -> output_fn per request.
Scoring goes through `_tabular.LoadedModel` and `_tabular.apply_calibration`, the same code the
evaluation and calibration steps ran, so an endpoint answers exactly what the pipeline measured.
Bad requests raise ValueError with a message for the client; the serving layer maps it to a 4xx.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _tabular
import numpy as np
import pandas as pd

CSV = "text/csv"
JSON = "application/json"
THRESHOLD = 0.5
# calibrations whose output is a probability; a percentile level is a rank, not a probability,
# so the label for a percentile-calibrated model is decided on the raw probability
PROBABILITY_CALIBRATIONS = ("isotonic", "sigmoid")


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
    prob: np.ndarray
    calibrated_prob: np.ndarray | None
    label: np.ndarray


# ---------------------------------------------------------------- the four handler functions


def model_fn(model_dir: str) -> ServingModel:
    calibration_path = Path(model_dir) / _tabular.CALIBRATION_FILE
    calibration = _tabular.load_json(calibration_path) if calibration_path.is_file() else None
    return ServingModel(model=_tabular.LoadedModel(model_dir), calibration=calibration)


def input_fn(request_body: str | bytes, content_type: str | None) -> Request:
    media_type = _media_type(content_type)
    text = (
        request_body.decode("utf-8")
        if isinstance(request_body, bytes | bytearray)
        else str(request_body)
    )
    if media_type == CSV:
        return Request(rows=_parse_csv(text))
    if media_type == JSON:
        return _parse_json(text)
    raise ValueError(f"unsupported content type {content_type!r}; send {CSV} or {JSON}")


def predict_fn(data: Request, model: ServingModel) -> Prediction:
    frame = request_frame(data, model.features)
    prob = model.model.predict_proba(frame)
    calibrated = None
    decision = prob
    if model.calibration is not None:
        calibrated = _tabular.apply_calibration(prob, model.calibration)
        if model.calibration["method"] in PROBABILITY_CALIBRATIONS:
            decision = calibrated
    return Prediction(
        prob=prob, calibrated_prob=calibrated, label=(decision >= THRESHOLD).astype(int)
    )


def output_fn(prediction: Prediction, accept: str | None) -> str:
    media_type = _accepted_type(accept)
    if media_type == CSV:
        return "".join(",".join(_csv_cells(row)) + "\n" for row in _rows(prediction))
    return json.dumps({"predictions": _rows(prediction)})


# ---------------------------------------------------------------- parsing


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
    raise ValueError(f"unsupported accept type {accept!r}; ask for {JSON} or {CSV}")


def _parse_csv(text: str) -> list[list[Any]]:
    rows = [
        [cell.strip() or None for cell in row]
        for row in csv.reader(io.StringIO(text))
        if any(c.strip() for c in row)
    ]
    widths = sorted({len(row) for row in rows})
    if len(widths) > 1:
        raise ValueError(
            f"CSV rows have different numbers of values ({widths}); send one value per feature in every row"
        )
    return rows


def _parse_json(text: str) -> Request:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"request body is not valid JSON: {error}") from None
    instances = document.get("instances", document) if isinstance(document, dict) else document
    if isinstance(instances, dict):
        instances = [instances]
    if not isinstance(instances, list):
        raise ValueError(
            'JSON body must be {"instances": [...]}, a list of instances or one instance object'
        )
    if all(isinstance(item, dict) for item in instances):
        return Request(records=instances)
    if all(isinstance(item, list) for item in instances):
        return Request(rows=instances)
    raise ValueError(
        "JSON instances must all be objects {feature: value} or all be lists in feature order"
    )


def request_frame(data: Request, features: list[str]) -> pd.DataFrame:
    """The request as a table with the model's feature columns, or a ValueError saying what is off."""
    if data.records is not None:
        for i, record in enumerate(data.records):
            missing = [f for f in features if f not in record]
            if missing:
                raise ValueError(
                    f"instance {i} lacks features {_preview(missing)}; send every feature (null if unknown)"
                )
        rows = [[record[f] for f in features] for record in data.records]
    else:
        rows = list(data.rows or [])
        if rows and [str(v) for v in rows[0]] == features:
            rows = rows[1:]  # a header row naming the features in order
        for i, row in enumerate(rows):
            if len(row) != len(features):
                raise ValueError(
                    f"row {i} has {len(row)} values but the model takes {len(features)} features: {_preview(features)}"
                )
    if not rows:
        raise ValueError("the request holds no rows")
    return pd.DataFrame(rows, columns=features, dtype=object)


def _preview(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return f"[{shown}{', ...' if len(names) > limit else ''}] ({len(names)})"


# ---------------------------------------------------------------- writing


def _rows(prediction: Prediction) -> list[dict[str, Any]]:
    rows = []
    for i in range(len(prediction.prob)):
        row: dict[str, Any] = {"prob": float(prediction.prob[i])}
        if prediction.calibrated_prob is not None:
            row["calibrated_prob"] = float(prediction.calibrated_prob[i])
        row["label"] = int(prediction.label[i])
        rows.append(row)
    return rows


def _csv_cells(row: dict[str, Any]) -> list[str]:
    return [repr(value) for value in row.values()]
