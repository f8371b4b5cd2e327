"""The HTTP edge every request crosses first: body limits, the in-flight budget, the shutdown drain.

- **Body limits before reading.** A declared ``Content-Length`` over the endpoint's limit is refused
  at once (413, in the client's dialect), before a byte of the body is read; a chunked body is
  counted as it arrives and reading stops at the limit. The refusal carries ``Connection: close``,
  so the server does not go on reading (and discarding) the rest of the upload.
- **In-flight budget.** Image calls being served at once, and the request bytes they hold, are
  bounded; past either bound the call is refused with 503 + ``Retry-After`` before any provider is
  paid (docs/reliability.md, "Limits and memory").
- **Shutdown drain.** The server lets requests run for the configured grace and then cancels what
  is left; a request cancelled before its response started gets a 503 in its dialect instead of a
  dropped connection and a traceback.

Pure ASGI (no buffering); the dialect of an error is chosen by a renderer passed in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagegate.api.http import new_request_id
from imagegate.domain.errors import GatewayUnavailable, ImagegateError, PayloadTooLarge

log = logging.getLogger("imagegate.edge")

ErrorRenderer = Callable[[Scope, ImagegateError, str], Response]

SMALL_BODY_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    """The edge's bounds: body sizes per kind of endpoint, and what may be in flight at once."""

    image_body_bytes: int
    max_inflight_requests: int
    max_inflight_body_bytes: int
    other_body_bytes: int = SMALL_BODY_BYTES
    retry_after_s: float = 1.0


class InflightBudget:
    """Image calls in flight and the request bytes they hold; refuses what would exceed the limits.

    Used from one event loop only (one per process), so plain counters suffice.
    """

    def __init__(self, max_requests: int, max_bytes: int) -> None:
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.requests = 0
        self.bytes = 0

    def admit(self, declared_bytes: int) -> bool:
        """Take a request slot and its declared body bytes, or refuse (nothing taken)."""
        if self.requests >= self.max_requests or self.bytes + declared_bytes > self.max_bytes:
            return False
        self.requests += 1
        self.bytes += declared_bytes
        return True

    def charge(self, more_bytes: int) -> bool:
        """Hold ``more_bytes`` more for an admitted request (a chunked body as it arrives), or refuse."""
        if self.bytes + more_bytes > self.max_bytes:
            return False
        self.bytes += more_bytes
        return True

    def release(self, held_bytes: int) -> None:
        """Give back an admitted request's slot and the bytes it held."""
        self.requests -= 1
        self.bytes -= held_bytes


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length``, or None when absent (chunked) or not a number."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _chunked(scope: Scope) -> bool:
    return any(name == b"transfer-encoding" for name, _ in scope.get("headers", []))


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than this endpoint's limit of {limit} bytes.")


class EdgeMiddleware:
    """Applies the edge's limits to every HTTP request (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: EdgeLimits,
        budget: InflightBudget,
        carries_images: Callable[[Scope], bool],
        render: ErrorRenderer,
    ) -> None:
        self.app = app
        self.limits = limits
        self.budget = budget
        self.carries_images = carries_images
        self.render = render

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, error: ImagegateError) -> None:
        response = self.render(scope, error, new_request_id())
        # The unread rest of the body is not wanted: close rather than read and discard it.
        response.headers["connection"] = "close"
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        images = self.carries_images(scope)
        limit = self.limits.image_body_bytes if images else self.limits.other_body_bytes
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(scope, receive, send, _too_large(limit))
            return
        held = 0 if declared is None else declared
        if images and not self.budget.admit(held):
            busy = GatewayUnavailable(
                "The gateway is at its limit of requests in flight; retry shortly.",
                retry_after=self.limits.retry_after_s,
            )
            await self._refuse(scope, receive, send, busy)
            return
        received = 0
        # A body still unread when the answer starts (refused, or answered early: 401, 404) is not
        # wanted: closing the connection stops the server from reading and discarding all of it.
        unread = (declared is not None and declared > 0) or (declared is None and _chunked(scope))
        started = False

        async def limited_receive() -> Message:
            nonlocal received, held, unread
            message = await receive()
            if message["type"] != "http.request":
                return message
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                unread = False
            if received > limit:
                raise _too_large(limit)
            if images and received > held:
                if not self.budget.charge(received - held):
                    raise GatewayUnavailable(
                        "The gateway holds as many request bytes as it may; retry shortly.",
                        retry_after=self.limits.retry_after_s,
                    )
                held = received
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if unread:
                    message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except (PayloadTooLarge, GatewayUnavailable) as error:
            if started:
                log.warning("%s %s: %s after the response started", scope["method"], scope["path"], error.message)
                return
            await self._refuse(scope, receive, send, error)
        except asyncio.CancelledError:
            # The server cancels what still runs when the shutdown grace is over: answer, don't drop.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            log.warning("%s %s cancelled: shutdown grace period over", scope["method"], scope["path"])
            if not started:
                draining = GatewayUnavailable(
                    "The gateway is shutting down; retry the request.", retry_after=self.limits.retry_after_s
                )
                await self._refuse(scope, receive, send, draining)
        finally:
            if images:
                self.budget.release(held)
