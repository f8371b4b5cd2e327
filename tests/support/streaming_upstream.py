"""A fake OpenAI that sends its answer (a JSON body or an SSE stream) in chunks and can stall or
break off mid-body (raw ASGI).

The sandbox answers small bodies in one piece; these tests need a body larger than the gateway's
read-whole limit, sent in pieces, and the two ways a body goes wrong once it has started.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn


class BrokeOff(Exception):
    """Raised by the fake mid-body: uvicorn then drops the connection without ending the body."""


@dataclass
class StreamingUpstream:
    """The next answer: ``body`` in ``chunk``-byte pieces; ``stall_after``/``break_after`` bytes."""

    url: str
    body: bytes = b"{}"
    content_type: bytes = b"application/json"
    chunk: int = 64 * 1024
    declare_length: bool = True
    stall_after: int | None = None
    break_after: int | None = None
    release: threading.Event = field(default_factory=threading.Event)
    calls: int = 0


def _app(upstream: StreamingUpstream) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body", False):
            pass
        upstream.calls += 1
        headers = [(b"content-type", upstream.content_type), (b"x-request-id", b"req_streaming_upstream")]
        if upstream.declare_length:
            headers.append((b"content-length", str(len(upstream.body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        sent = 0
        stall_after, release = upstream.stall_after, upstream.release  # this answer's, whatever comes next
        while sent < len(upstream.body):
            if upstream.break_after is not None and sent >= upstream.break_after:
                raise BrokeOff
            if stall_after is not None and sent >= stall_after:
                deadline = time.monotonic() + 30
                while not release.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                stall_after = None
            piece = upstream.body[sent : sent + upstream.chunk]
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            sent += len(piece)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


@contextlib.contextmanager
def streaming_upstream() -> Iterator[StreamingUpstream]:
    """Serve a ``StreamingUpstream`` on a free port for the block."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    upstream = StreamingUpstream(url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    server = uvicorn.Server(uvicorn.Config(_app(upstream), log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("streaming upstream did not start")
        time.sleep(0.01)
    try:
        yield upstream
    finally:
        upstream.release.set()
        server.should_exit = True
        thread.join(10)
        sock.close()
