"""Fault state, the request log, the ``/_sandbox/`` control endpoints, and transport-level faults.

Faults queued through the control endpoint apply to the next matching requests; the request log lets
tests assert how many provider calls really happened. Both live on the app instance. The transport
faults (``hang``, ``reset``, ``truncated``) are raw ASGI callables, because a Starlette ``Response``
always completes its HTTP message and these must not.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from imagegate.sandbox.directives import Directive, DirectiveError, parse_fault

__all__ = [
    "FaultRule",
    "FaultStore",
    "HangResponse",
    "RequestLog",
    "RequestRecord",
    "ResetResponse",
    "TransportLookup",
    "TruncatedResponse",
    "control_routes",
    "drop_connection",
]


@dataclass
class FaultRule:
    """A queued fault: applies to the next ``remaining`` requests matching ``model`` and ``path``."""

    id: int
    directive: Directive
    remaining: int
    model: str | None = None
    path: str | None = None

    def matches(self, model: str | None, path: str) -> bool:
        """True if a request to ``path`` for ``model`` is subject to this rule."""
        if self.model is not None and self.model != model:
            return False
        # A suffix match lets tests write "/images/edits" without caring about the "/v1" prefix.
        return self.path is None or path == self.path or path.endswith(self.path)

    def to_json(self) -> dict[str, Any]:
        """The rule as the control endpoint lists it."""
        return {
            "id": self.id,
            "fault": self.directive.label(),
            "remaining": self.remaining,
            "model": self.model,
            "path": self.path,
        }


class FaultStore:
    """Pending faults in the order they were added. Used only from the event loop, so no lock."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)

    def add(self, directive: Directive, count: int = 1, model: str | None = None, path: str | None = None) -> FaultRule:
        """Queue ``directive`` for the next ``count`` matching requests."""
        rule = FaultRule(next(self._ids), directive, count, model, path)
        self._rules.append(rule)
        return rule

    def take(self, model: str | None, path: str) -> Directive | None:
        """Consume one use of the oldest rule matching this request, if any."""
        for rule in self._rules:
            if rule.matches(model, path):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._rules.remove(rule)
                return rule.directive
        return None

    def pending(self) -> list[FaultRule]:
        """The rules still waiting, oldest first."""
        return list(self._rules)

    def clear(self) -> int:
        """Drop every pending rule; returns how many there were."""
        dropped = len(self._rules)
        self._rules.clear()
        return dropped


@dataclass
class RequestRecord:
    """One provider call as the sandbox saw it. Never holds prompt text or image bytes."""

    request_id: str
    method: str
    path: str
    time: float
    model: str | None = None
    status: int | None = None  # None while in flight, or for hang/reset (no response was sent)
    stream: bool = False
    faults: list[str] = field(default_factory=list)
    input_images: int | None = None  # reference images received, where the host's route counts them
    client_closed: bool = False  # the caller hung up before an answer (a held call it gave up on)

    def to_json(self) -> dict[str, Any]:
        """The record as ``GET /_sandbox/requests`` returns it."""
        return {
            "request_id": self.request_id,
            "method": self.method,
            "path": self.path,
            "model": self.model,
            "status": self.status,
            "stream": self.stream,
            "faults": self.faults,
            "input_images": self.input_images,
            "client_closed": self.client_closed,
            "time": self.time,
        }


class RequestLog:
    """Bounded log of provider calls plus an exact running count."""

    def __init__(self, max_records: int = 10_000) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=max_records)
        self.count = 0

    def start(self, request_id: str, method: str, path: str) -> RequestRecord:
        """Record a request as it arrives; the caller fills in model and status as they become known."""
        record = RequestRecord(request_id=request_id, method=method, path=path, time=time.time())
        self._records.append(record)
        self.count += 1
        return record

    def records(self, path: str | None = None, model: str | None = None) -> list[RequestRecord]:
        """Kept records, oldest first, optionally filtered by path suffix and model."""
        return [
            r for r in self._records if (path is None or r.path.endswith(path)) and (model is None or r.model == model)
        ]

    def clear(self) -> None:
        """Forget every record and reset the count."""
        self._records.clear()
        self.count = 0


# --- control endpoints -------------------------------------------------------------------------


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _control_error(message: str, status: int = 400) -> Response:
    # Same envelope as the OpenAI errors, so one client helper reads both.
    return _json({"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}, status)


def _rule_from_json(item: Any, store: FaultStore) -> FaultRule | str:
    """Validate one fault object; returns the queued rule or an error message."""
    if not isinstance(item, dict):
        return "each fault must be a JSON object"
    fault = item.get("fault")
    if not isinstance(fault, str):
        return '\'fault\' must be a string such as "500" or "429=1.5"'
    count = item.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        return "'count' must be a positive integer"
    model, path = item.get("model"), item.get("path")
    if model is not None and not isinstance(model, str):
        return "'model' must be a string"
    if path is not None and not isinstance(path, str):
        return "'path' must be a string"
    try:
        directive = parse_fault(fault)
    except DirectiveError as exc:
        return str(exc)
    return store.add(directive, count, model, path)


def control_routes(store: FaultStore, log: RequestLog) -> list[Route]:
    """The ``/_sandbox/faults`` and ``/_sandbox/requests`` routes over this app's state (no auth)."""

    async def faults_endpoint(request: Request) -> Response:
        if request.method == "GET":
            return _json({"faults": [r.to_json() for r in store.pending()]})
        if request.method == "DELETE":
            return _json({"cleared": store.clear()})
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _control_error('body must be JSON: {"fault": "500", "count": 1}')
        # One object or a list of them; validate all before queueing any, so a bad list changes nothing.
        items = body if isinstance(body, list) else [body]
        scratch = FaultStore()
        for item in items:
            result = _rule_from_json(item, scratch)
            if isinstance(result, str):
                return _control_error(result)
        added = [store.add(r.directive, r.remaining, r.model, r.path) for r in scratch.pending()]
        return _json({"faults": [r.to_json() for r in added]}, 201)

    async def requests_endpoint(request: Request) -> Response:
        if request.method == "DELETE":
            log.clear()
            return _json({"count": 0, "requests": []})
        path, model = request.query_params.get("path"), request.query_params.get("model")
        records = log.records(path, model)
        count = log.count if path is None and model is None else len(records)
        return _json({"count": count, "requests": [r.to_json() for r in records]})

    return [
        Route("/_sandbox/faults", faults_endpoint, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/requests", requests_endpoint, methods=["GET", "DELETE"]),
    ]


# --- transport-level faults --------------------------------------------------------------------


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class HangResponse:
    """Never answers: waits until the client disconnects, or ``max_seconds`` and then sends ``fallback``.

    It awaits ``receive`` rather than sleeping, so the task ends as soon as the client gives up and
    other requests are never blocked.
    """

    def __init__(self, max_seconds: float, fallback: Response, on_disconnect: Callable[[], None] | None = None) -> None:
        self.max_seconds = max_seconds
        self.fallback = fallback
        self.on_disconnect = on_disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await asyncio.wait_for(_wait_for_disconnect(receive), timeout=self.max_seconds)
        except TimeoutError:
            await self.fallback(scope, receive, send)
            return
        if self.on_disconnect is not None:
            self.on_disconnect()


TransportLookup = Callable[[tuple[str, int]], asyncio.Transport | None]


async def drop_connection(scope: Scope, receive: Receive, lookup: TransportLookup | None, *, reset: bool) -> bool:
    """Close the request's TCP connection now; with ``reset``, as an RST (SO_LINGER 0) without flushing.

    Returns False if the connection could not be found (no ``lookup``, e.g. an in-process ASGI
    client); the caller then just returns, and a server closes a connection whose response is
    incomplete anyway (uvicorn logs "ASGI callable returned without completing response").
    """
    client = scope.get("client")
    transport = None if lookup is None or client is None else lookup((client[0], client[1]))
    if transport is None:
        return False
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger on with timeout 0 makes close() send RST instead of FIN.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()  # sends what is already written, then FIN
    # Wait until the server notices, so it does not try to answer ("500, no response") itself.
    await _wait_for_disconnect(receive)
    return True


class ResetResponse:
    """Closes the TCP connection without sending a byte (an RST, where the socket allows it).

    ASGI has no way to say "no response", so this needs the server's transport, found through
    ``lookup`` (installed by :mod:`imagegate.sandbox.server`). Without it, the fallback sends only a
    status line and headers declaring a body that never comes, which clients also see as a broken
    connection.
    """

    def __init__(self, lookup: TransportLookup | None) -> None:
        self.lookup = lookup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await drop_connection(scope, receive, self.lookup, reset=True):
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]})


class TruncatedResponse:
    """Declares the full Content-Length, sends only the first half of the body, then closes.

    The client sees fewer bytes than promised followed by the end of the connection.
    """

    def __init__(self, body: bytes, lookup: TransportLookup | None, status: int = 200) -> None:
        self.body = body
        self.lookup = lookup
        self.status = status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(self.body)).encode())]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True})
        await drop_connection(scope, receive, self.lookup, reset=False)
