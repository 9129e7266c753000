"""Answering a request with a packaged model's own code: the part every serving engine shares.

`ModelServer` imports the package's code/inference.py (model_fn, input_fn, predict_fn, output_fn,
with the _tabular it ships), checks each request against the model's input schema (422 with the
reason), negotiates content types (415 / 406) and counts requests for `GET /metrics`. The FastAPI
server (`cursus serve`, `cursus deploy`), the Ray Serve deployment and the BentoML service
(`cursus models export-bento`) all answer through it, so the same payload gets the same answer
from each.

This module imports nothing outside the standard library, and Cursus only when it is there:
`cursus models export-bento` copies it into the bento, which then runs where Cursus is not
installed.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

try:  # inside Cursus, a broken package is one of its one-line errors
    from cursus.errors import CursusError as _ErrorBase
except ImportError:  # pragma: no cover - copied into a bento that runs without Cursus
    _ErrorBase = Exception  # type: ignore[misc,assignment]

CSV = "text/csv"
JSON = "application/json"
PREPROCESSING_FILE = "preprocessing.json"
MODEL_META_FILE = "model_meta.json"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class PackageError(_ErrorBase):
    """The package cannot be served: its code does not import, or it names no features."""


class ServingError(Exception):
    """A request the model cannot answer: HTTP `status` with a reason for the client."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def load_handler(code_dir: Path) -> ModuleType:
    """Import the package's code/inference.py, binding the _tabular shipped next to it.

    Any other `_tabular` already imported in this process is set aside meanwhile and put back
    afterwards, so the handler runs the package's copy, as the endpoint container would.
    """
    name = f"cursus_serving_handler_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, code_dir / "inference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    other_tabular = sys.modules.pop("_tabular", None)
    sys.path.insert(0, str(code_dir))
    try:
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise PackageError(f"the package's code/inference.py does not import: {exc}") from exc
    finally:
        sys.path.remove(str(code_dir))
        sys.modules.pop("_tabular", None)
        if other_tabular is not None:
            sys.modules["_tabular"] = other_tabular
    for fn in ("model_fn", "input_fn", "predict_fn", "output_fn"):
        if not callable(getattr(module, fn, None)):
            raise PackageError(f"the package's code/inference.py has no {fn}()")
    return module


# ---------------------------------------------------------------- the input schema


@dataclass(frozen=True)
class InputSchema:
    """The features a request must carry, in the model's order, and which of them are numbers."""

    features: tuple[str, ...]
    categorical: frozenset[str] = frozenset()

    @classmethod
    def from_model_dir(cls, model_dir: Path) -> InputSchema:
        prep_path, meta_path = model_dir / PREPROCESSING_FILE, model_dir / MODEL_META_FILE
        prep = json.loads(prep_path.read_text()) if prep_path.is_file() else {}
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        features = prep.get("features") or meta.get("features")
        if not features:
            raise PackageError(
                f"the package names no input features (neither {PREPROCESSING_FILE} nor "
                f"{MODEL_META_FILE} lists them); rebuild it with the Package step"
            )
        return cls(tuple(map(str, features)), frozenset(prep.get("categories", {})))

    def check(self, data: Any) -> int:
        """Check the handler's parsed request; returns its row count or raises a 422."""
        if getattr(data, "records", None) is not None:
            return self._check_records(data.records)
        rows = list(getattr(data, "rows", None) or [])
        if rows and [str(v) for v in rows[0]] == list(self.features):
            rows = rows[1:]  # a header row naming the features, which the handler skips too
        if not rows:
            raise ServingError(422, "the request holds no rows")
        width = len(self.features)
        for i, row in enumerate(rows):
            if len(row) != width:
                raise ServingError(
                    422,
                    f"row {i} has {len(row)} values but the model takes {width} features "
                    f"({_preview(self.features)}); send one value per feature, in that order",
                )
            for name, value in zip(self.features, row, strict=True):
                self._check_value(i, name, value)
        return len(rows)

    def _check_records(self, records: list[dict[str, Any]]) -> int:
        if not records:
            raise ServingError(422, "the request holds no instances")
        known = set(self.features)
        for i, record in enumerate(records):
            unknown = [k for k in record if k not in known]
            if unknown:
                raise ServingError(
                    422,
                    f"instance {i} has unknown features {_preview(unknown)}; the model takes "
                    f"{_preview(self.features)}",
                )
            missing = [f for f in self.features if f not in record]
            if missing:
                raise ServingError(
                    422,
                    f"instance {i} lacks features {_preview(missing)}; send every feature "
                    "(null when unknown)",
                )
            for name in self.features:
                self._check_value(i, name, record[name])
        return len(records)

    def _check_value(self, row: int, name: str, value: Any) -> None:
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            return
        if isinstance(value, list | dict | bool):
            raise ServingError(
                422, f"row {row}, feature '{name}': {json.dumps(value)} is not a single value"
            )
        if name in self.categorical:
            return
        text = str(value).strip()
        if text == "":
            return
        try:
            float(text)
        except ValueError:
            raise ServingError(
                422, f"row {row}, feature '{name}' is numeric but got {str(value)[:40]!r}"
            ) from None


def _preview(names: Any, limit: int = 8) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return f"[{shown}{', ...' if len(names) > limit else ''}] ({len(names)})"


# ---------------------------------------------------------------- metrics


@dataclass
class ServingMetrics:
    """Request counters and a latency histogram, written in Prometheus' text format."""

    requests: dict[tuple[str, int], int] = field(default_factory=dict)
    rows: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    latency_sum: float = 0.0
    latency_count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(
        self, endpoint: str, status: int, seconds: float | None = None, rows: int = 0
    ) -> None:
        with self._lock:
            key = (endpoint, status)
            self.requests[key] = self.requests.get(key, 0) + 1
            self.rows += rows
            if seconds is not None:
                index = next(
                    (i for i, bound in enumerate(LATENCY_BUCKETS) if seconds <= bound),
                    len(LATENCY_BUCKETS),
                )
                self.buckets[index] += 1
                self.latency_sum += seconds
                self.latency_count += 1

    def render(self, info: dict[str, str]) -> str:
        with self._lock:
            requests = sorted(self.requests.items())
            buckets, total, count, rows = (
                list(self.buckets),
                self.latency_sum,
                self.latency_count,
                self.rows,
            )
        labels = ",".join(f'{k}="{_label(v)}"' for k, v in info.items())
        lines = [
            "# HELP cursus_model_info The model this server answers with.",
            "# TYPE cursus_model_info gauge",
            f"cursus_model_info{{{labels}}} 1",
            "# HELP cursus_requests_total Requests answered, by endpoint and HTTP status.",
            "# TYPE cursus_requests_total counter",
            *(
                f'cursus_requests_total{{endpoint="{e}",status="{s}"}} {n}'
                for (e, s), n in requests
            ),
            "# HELP cursus_invocation_errors_total Invocations answered with an error, by HTTP status.",
            "# TYPE cursus_invocation_errors_total counter",
            *(
                f'cursus_invocation_errors_total{{status="{s}"}} {n}'
                for (e, s), n in requests
                if e == "/invocations" and s >= 400
            ),
            "# HELP cursus_predicted_rows_total Rows scored.",
            "# TYPE cursus_predicted_rows_total counter",
            f"cursus_predicted_rows_total {rows}",
            "# HELP cursus_invocation_seconds Time to answer an invocation, from request to response.",
            "# TYPE cursus_invocation_seconds histogram",
        ]
        cumulative = 0
        for bound, n in zip([*LATENCY_BUCKETS, math.inf], buckets, strict=True):
            cumulative += n
            le = "+Inf" if math.isinf(bound) else repr(bound)
            lines.append(f'cursus_invocation_seconds_bucket{{le="{le}"}} {cumulative}')
        lines += [
            f"cursus_invocation_seconds_sum {total!r}",
            f"cursus_invocation_seconds_count {count}",
        ]
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# ---------------------------------------------------------------- answering a request


def _media_type(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


def negotiate(accept: str | None) -> str:
    """The response type for an Accept header, as the packaged handler picks it (406 if none)."""
    listed = [_media_type(part) for part in (accept or "").split(",") if part.strip()]
    for media_type in listed or ["*/*"]:
        if media_type in (CSV, JSON):
            return media_type
        if media_type in ("*/*", "application/*"):
            return JSON
    raise ServingError(406, f"cannot answer in {accept!r}; accept {JSON} or {CSV}")


class ModelServer:
    """The package's handler and model, with the schema checks and metrics around them."""

    def __init__(self, model_dir: Path, model_ref: str = "", digest: str = "") -> None:
        self.model_dir = model_dir
        self.handler = load_handler(model_dir / "code")
        self.model = self.handler.model_fn(str(model_dir))
        self.schema = InputSchema.from_model_dir(model_dir)
        self.metrics = ServingMetrics()
        self.info = {"ref": model_ref or str(model_dir), "sha256": digest}

    def invoke(
        self, body: bytes, content_type: str | None, accept: str | None
    ) -> tuple[str, str, int]:
        """(response body, its media type, rows scored) or a ServingError."""
        if _media_type(content_type) not in (CSV, JSON):
            raise ServingError(
                415, f"unsupported content type {content_type!r}; send {CSV} or {JSON}"
            )
        response_type = negotiate(accept)
        try:
            data = self.handler.input_fn(body, content_type)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ServingError(_status(exc, 422), str(exc)) from None
        rows = self.schema.check(data)
        try:
            prediction = self.handler.predict_fn(data, self.model)
        except ValueError as exc:
            raise ServingError(_status(exc, 422), str(exc)) from None
        try:
            result = self.handler.output_fn(prediction, accept)
        except ValueError as exc:
            raise ServingError(_status(exc, 406), str(exc)) from None
        if isinstance(result, tuple):  # (body, content type), as the SageMaker toolkits take it
            body_text, response_type = result
            return str(body_text), response_type, rows
        return result, response_type, rows

    def answer(
        self, body: bytes, content_type: str | None, accept: str | None, started: float = 0.0
    ) -> tuple[int, str, str]:
        """(HTTP status, response body, media type) for one /invocations request, errors
        included, counted in the metrics; what every engine sends back. `started` is when the
        request arrived (perf_counter), for the latency histogram."""
        started = started or time.perf_counter()
        rows = 0
        try:
            text, media_type, rows = self.invoke(body, content_type, accept)
            status = 200
        except ServingError as exc:
            status, text, media_type = exc.status, error_body(exc.reason), JSON
        except Exception as exc:  # a bug in the package's handler: say so, keep serving
            traceback.print_exc()  # to the server's log
            status, media_type = 500, JSON
            text = error_body(f"the model's handler failed: {type(exc).__name__}: {exc}")
        self.metrics.observe("/invocations", status, time.perf_counter() - started, rows)
        return status, text, media_type

    def ping(self) -> dict[str, str]:
        self.metrics.observe("/ping", 200)
        return {"status": "healthy", **self.info}


def error_body(reason: str) -> str:
    """The JSON body of an error answer: {"error": reason}."""
    return json.dumps({"error": reason}, separators=(",", ":"))


def _status(exc: Exception, default: int) -> int:
    """The HTTP status a package's handler gave its error (its RequestError carries the one
    SageMaker's toolkits answer with), else `default`."""
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) and 400 <= status < 500 else default
