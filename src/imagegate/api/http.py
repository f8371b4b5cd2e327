"""What every transport shares: request ids, key extraction (bearer and Google-style) and body reading.

Dialect packages (``api/openai``, ``api/google``) and the gateway's own endpoints (``api/admin``,
``api/public``) build on this module; none of them imports another dialect's module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncGenerator, Coroutine
from typing import Any, TypeVar

from starlette.requests import ClientDisconnect, Request

from imagegate.domain.errors import ClientGone, PayloadTooLarge
from imagegate.domain.tags import Tags, parse_tags
from imagegate.service.attempts import CLIENT_DISCONNECTED

log = logging.getLogger("imagegate.api")

T = TypeVar("T")


def new_request_id() -> str:
    """A fresh request id, ``req_`` + 32 random hex digits.

    Drawn from ``random`` (seeded from ``os.urandom``, reseeded in forked children), not from
    ``os.urandom`` itself: a request id names a request and grants nothing, and the syscall
    lets go of the interpreter lock, which the ledger and log threads then take from every
    request mid-way (docs/performance.md, "Where the event loop lets go of the lock").
    """
    return f"req_{random.getrandbits(128):032x}"


def bearer_token(request: Request) -> str | None:
    """The key from ``Authorization: Bearer <key>``, or None."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def request_tags(request: Request) -> Tags:
    """The request's own ledger tags, from ``x-imagegate-tags`` (``name=value,...``)."""
    return parse_tags(request.headers.get("x-imagegate-tags"))


def google_api_key(request: Request) -> str | None:
    """The key a Google-dialect client presented: ``x-goog-api-key``, ``?key=`` or a bearer token.

    google-genai sends ``x-goog-api-key``; curl examples use ``?key=``; Vertex-style clients send
    ``Authorization: Bearer``. Each carries the imagegate key, never a Google credential.
    """
    header = request.headers.get("x-goog-api-key")
    if header is not None and header.strip() != "":
        return header.strip()
    query = request.query_params.get("key")
    if query is not None and query.strip() != "":
        return query.strip()
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip() != "":
        return token.strip()
    return None


def speaks_google(request: Request) -> bool:
    """True when the request authenticates the Google way (header or query key), not by bearer."""
    return request.headers.get("x-goog-api-key") is not None or request.query_params.get("key") is not None


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than this gateway's limit of {limit} bytes.")


async def body_chunks(request: Request, limit: int) -> AsyncGenerator[bytes]:
    """The request body as it arrives, refusing a declared length over ``limit`` before reading
    and stopping at ``limit`` bytes when the length was not declared (chunked)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            yield chunk
    except ClientDisconnect:
        # The client's own doing (a reset mid-upload): one line, no traceback.
        log.info("client disconnected during upload path=%s bytes_read=%d", request.url.path, size)
        raise ClientGone("The client disconnected while sending the request body.") from None


async def read_body(request: Request, limit: int) -> bytes:
    """The whole request body, refusing (before reading it all) anything over ``limit`` bytes."""
    body = b"".join([chunk async for chunk in body_chunks(request, limit)])
    # Cache it where Starlette looks, so later readers (multipart parsing) see the same bytes.
    request._body = body
    return body


async def _disconnected(request: Request) -> None:
    # Called once the body has been read: the next ASGI message is the client hanging up.
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def while_connected(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` (a non-streamed provider call) but cancel it the moment the client hangs up.

    The cancellation carries ``CLIENT_DISCONNECTED``, so the attempt in flight is recorded with
    ``client_disconnected=true`` and nothing is retried or fallen back to. Call it only after the
    request body has been read. Raises ``ClientGone`` when the client left.

    ``work`` runs in the calling task; only the watcher for the hang-up is a task of its own (a
    task and a wait per request less than running both side by side: this is every request's path).

    A request with an ``Idempotency-Key`` runs to completion instead: its client is expected to
    retry with the same key and collect the first run's outcome, which cancelling would throw away.
    """
    if request.headers.get("idempotency-key") is not None:
        return await work
    current = asyncio.current_task()
    assert current is not None, "called from a request's task"
    gone = False

    def hang_up(watcher: asyncio.Future[None]) -> None:
        nonlocal gone
        if not watcher.cancelled() and watcher.exception() is None:
            gone = True
            current.cancel(CLIENT_DISCONNECTED)

    watcher = asyncio.ensure_future(_disconnected(request))
    watcher.add_done_callback(hang_up)
    try:
        return await work
    except asyncio.CancelledError:
        if not gone:
            raise  # the server is stopping: not the client's doing
        current.uncancel()
        log.info("client disconnected while waiting path=%s", request.url.path)
        raise ClientGone("The client disconnected before the answer was ready.") from None
    finally:
        watcher.remove_done_callback(hang_up)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
