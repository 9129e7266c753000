"""The BentoML service of a packaged model: `cursus models export-bento` copies this file into the
bento as service.py, beside cursus_invoke.py (a copy of cursus.mlops.invoke) and cursus_bento.json,
which names the model in BentoML's model store and where it came from.

It answers the requests `cursus serve` answers, with the package's own code/inference.py through
the same ModelServer: `POST /invocations` (text/csv or application/json, the SageMaker
convention), `GET /ping`. BentoML adds its own `/livez`, `/readyz` and `/metrics`.

    bentoml serve NAME:VERSION --host 127.0.0.1 --port 3000
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import bentoml
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

try:  # the copy the bento carries
    from cursus_invoke import ModelServer
except ImportError:  # pragma: no cover - imported from the Cursus package itself
    from cursus.mlops.invoke import ModelServer

SETTINGS = json.loads((Path(__file__).with_name("cursus_bento.json")).read_text())
MAX_BODY_BYTES = 64 << 20


def _server() -> ModelServer:
    return bentoml.get_current_service().server


async def ping(request: Request) -> Response:
    return JSONResponse(_server().ping())


async def invocations(request: Request) -> Response:
    server, started = _server(), time.perf_counter()
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        reason = f"the request body exceeds {MAX_BODY_BYTES >> 20} MiB; send fewer rows"
        return JSONResponse({"error": reason}, status_code=413)
    # scoring is CPU work: off the event loop, so /ping answers meanwhile
    status, text, media_type = await run_in_threadpool(
        server.answer,
        body,
        request.headers.get("content-type"),
        request.headers.get("accept"),
        started,
    )
    return Response(text, status_code=status, media_type=media_type)


routes = Starlette(
    routes=[
        Route("/ping", ping, methods=["GET"]),
        Route("/invocations", invocations, methods=["POST"]),
    ]
)


@bentoml.asgi_app(routes, path="/")
@bentoml.service(
    name=SETTINGS["service"],
    description=SETTINGS.get("description"),
    workers=1,
    traffic={"timeout": 60},
)
class CursusModel:
    """One packaged model, loaded once per worker from BentoML's model store."""

    model = bentoml.models.BentoModel(SETTINGS["model"])

    def __init__(self) -> None:
        self.server = ModelServer(Path(self.model.path), SETTINGS["ref"], SETTINGS["sha256"])

    @bentoml.api(route="/predict")
    def predict(self, instances: list[dict[str, Any]]) -> list[Any]:
        """JSON instances in, predictions out (BentoML's own typed route, with its OpenAPI)."""
        text, _, _ = self.server.invoke(
            json.dumps({"instances": instances}).encode(), "application/json", "application/json"
        )
        answer = json.loads(text)
        return answer.get("predictions", answer) if isinstance(answer, dict) else answer
