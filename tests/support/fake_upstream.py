"""A ten-line fake provider for answers the sandbox never gives: any POST gets the body set on it."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class FakeUpstream:
    """The answer every POST receives next, and how many calls arrived."""

    url: str
    body: bytes = b"{}"
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"x-request-id": "req_fake_upstream"})
    calls: int = 0


@contextlib.contextmanager
def fake_upstream() -> Iterator[FakeUpstream]:
    """Serve a ``FakeUpstream`` on a free port for the block."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    upstream = FakeUpstream(url=f"http://127.0.0.1:{sock.getsockname()[1]}")

    async def answer(request: Request) -> Response:
        upstream.calls += 1
        return Response(
            upstream.body, status_code=upstream.status, headers=upstream.headers, media_type="application/json"
        )

    app = Starlette(routes=[Route("/{path:path}", answer, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake upstream did not start")
        time.sleep(0.01)
    try:
        yield upstream
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
