"""The request-level hook: opens a request's fact scope, times it, and reports it when it ends.

Pure ASGI (nothing buffered). Only the dialects' image calls are reported (``selects``); the
response's status is taken from ``http.response.start``, and a streamed answer is reported when
its last byte was sent, so its time includes the whole stream.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagegate.service.request_facts import RequestFacts, request_scope
from imagegate.telemetry.metrics import GatewayMetrics

Finish = Callable[[RequestFacts, int], None]


class RequestTracer(Protocol):
    """Opens a span around a request; the yielded callable closes it with the request's facts."""

    def request_span(self, scope: Scope) -> AbstractContextManager[Finish]:
        """The span of one request, current while the request runs."""
        ...


class TelemetryMiddleware:
    """Reports each selected request to the metrics and the tracer (either may be off)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        selects: Callable[[Scope], bool],
        metrics: GatewayMetrics | None = None,
        tracer: RequestTracer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.selects = selects
        self.metrics = metrics
        self.tracer = tracer
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.selects(scope):
            await self.app(scope, receive, send)
            return
        status = 500  # what the client sees if the app raises before answering

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = self.clock()
        with contextlib.ExitStack() as stack:
            facts = stack.enter_context(request_scope())
            finish_span = None if self.tracer is None else stack.enter_context(self.tracer.request_span(scope))
            try:
                await self.app(scope, receive, send_noting_status)
            finally:
                if self.metrics is not None:
                    self.metrics.observe_request(facts, status, self.clock() - started)
                if finish_span is not None:
                    finish_span(facts, status)
