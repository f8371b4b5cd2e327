"""An open provider stream: its events pass through as they arrive, and its one ledger row at the end.

The row follows the cost rule of ``service.attempts``: images completed → settled from usage;
the client gone or the stream cut before any image → the quote, estimated; an error the provider
bills (usage reported) → settled; any other error → 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable

from imagegate.domain.errors import ImagegateError, ProviderError, UpstreamBadResponse
from imagegate.domain.result import ImageResult, StreamEvent, Usage
from imagegate.pricing.engine import Charge
from imagegate.providers.http import StreamingResponse
from imagegate.service.attempts import AttemptRecorder
from imagegate.service.fanout import add_usage
from imagegate.service.plan import Plan, PlannedRoute
from imagegate.service.wire_parse import bad_response


class StreamSession:
    """An open provider stream. Iterate ``events()`` exactly once; it records the attempt."""

    def __init__(
        self,
        recorder: AttemptRecorder,
        plan: Plan,
        route: PlannedRoute,
        attempt: int,
        started: float,
        opened: StreamingResponse,
        *,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.recorder = recorder
        # Called once the stream ended and was recorded (admission settles there).
        self._on_close = on_close
        self.plan = plan
        self.route = route
        self.attempt = attempt
        self._started = started
        self._opened = opened
        # The response headers' id (OpenAI); replaced by one the stream body carries (Gemini's responseId).
        self.provider_request_id: str | None = route.adapter.provider_request_id(opened.headers)

    async def events(self) -> AsyncGenerator[StreamEvent]:
        """The provider's events as they arrive; the ledger entry is written when this ends."""
        route = self.route
        completed = 0
        finished = False  # a completed event seen (a Responses turn may finish with no image)
        failure_code: str | None = None
        usage_raw: dict[str, object] = {}
        totals = Usage()
        running: Usage | None = None
        error: ImagegateError | None = None
        disconnected = False
        try:
            request = route.request_for(self.plan.request)
            async for event in route.adapter.events_from_wire(request, self._opened.aiter_bytes()):
                if event.provider_request_id is not None:
                    self.provider_request_id = event.provider_request_id
                if event.failure_code is not None:
                    failure_code = event.failure_code
                if event.kind == "completed":
                    finished = True
                    completed += 1 if event.image_count is None else event.image_count
                    if event.usage is not None:
                        usage_raw = event.usage.raw
                        totals = add_usage(totals, event.usage)
                elif event.kind == "error" and isinstance(event.error, ImagegateError):
                    error = event.error
                if event.usage_total is not None:
                    running = event.usage_total  # a running total: the last one is the request's
                    usage_raw = running.raw
                yield event
            if not finished and error is None:
                error = UpstreamBadResponse("the provider's stream ended without a completed image")
        except ProviderError as exc:
            error = exc
            raise
        except (asyncio.CancelledError, GeneratorExit):
            # The client left (the response stopped iterating) or the server is stopping mid-stream.
            disconnected = True
            raise
        except Exception as exc:
            # A frame the adapter could not make sense of: the provider's answer is bad, not the gateway.
            error = bad_response(exc, self._opened.status, self.provider_request_id)
            raise error from exc
        finally:
            # Record first: during cancellation any await below may be interrupted.
            if running is not None:
                totals = add_usage(totals, running)
            self._finish(completed, usage_raw, totals, error, disconnected, finished=finished, failure=failure_code)
            try:
                await self._opened.aclose()
            finally:
                if self._on_close is not None:
                    await self._on_close()

    def _charge(
        self,
        finished: bool,
        totals: Usage,
        error: ImagegateError | None,
        disconnected: bool,
        result: ImageResult,
    ) -> Charge:
        recorder, plan, route = self.recorder, self.plan, self.route
        if result.image_count > 0 or (finished and error is None):
            return recorder.settle(plan, route, result)
        if disconnected:
            # Cut short mid-call: the provider may well finish and bill; the upper bound is the honest estimate.
            return recorder.quote(plan, route)
        if isinstance(error, ProviderError):
            if error.usage is not None:
                return recorder.settle(plan, route, ImageResult(image_count=0, usage=totals))
            return recorder.for_error(plan, route, error)
        return recorder.quote(plan, route)

    def _finish(
        self,
        completed: int,
        usage_raw: dict[str, object],
        totals: Usage,
        error: ImagegateError | None,
        disconnected: bool,
        *,
        finished: bool,
        failure: str | None,
    ) -> None:
        totals.raw = dict(usage_raw)
        result = ImageResult(image_count=completed, usage=totals, provider_request_id=self.provider_request_id)
        self.recorder.record(
            self.plan,
            self.route,
            self.attempt,
            self._started,
            error=error,
            charge=self._charge(finished, totals, error, disconnected, result),
            http_status=self._opened.status,
            provider_request_id=self.provider_request_id,
            images=completed,
            usage=totals,
            client_disconnected=disconnected,
            error_code="client_disconnected" if disconnected and error is None and not finished else failure,
        )
