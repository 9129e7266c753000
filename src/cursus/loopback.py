"""Loopback servers answer only requests addressed to a loopback name (DNS-rebinding defence).

A page on any web site can make the browser send requests to 127.0.0.1 under a name the attacker
controls (DNS rebinding): the TCP peer is loopback, but the Host header is the attacker's name.
The model server and the dashboard therefore accept a request only when its Host is localhost,
an address in 127.0.0.0/8 or ::1 (with any port), or a name the server was told to listen on.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any


def host_of(header: str) -> str:
    """The name in a Host header, without its port ('[::1]:8080' -> '::1')."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def is_loopback_name(name: str) -> bool:
    if name in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class LoopbackHostOnly:
    """ASGI middleware: 421 for a request whose Host is neither loopback nor one of `also`."""

    def __init__(self, app: Any, also: Iterable[str] = ()) -> None:
        self.app = app
        self.also = {host_of(h) for h in also if h}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = dict(scope.get("headers") or [])
            name = host_of(headers.get(b"host", b"").decode("latin-1"))
            if not (is_loopback_name(name) or name in self.also):
                await _refuse(send, name)
                return
        await self.app(scope, receive, send)


async def _refuse(send: Any, name: str) -> None:
    body = (
        f"Host {name or '(none)'!r} is not a loopback name; this server answers requests to "
        "localhost, 127.0.0.1 or ::1 (or the --host it was started with)\n"
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 421,
            "headers": [
                (b"content-type", b"text/plain"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
