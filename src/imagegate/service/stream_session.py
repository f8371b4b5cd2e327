"""An open provider stream: its events pass through as they arrive, and its one ledger row at the end.

The row follows the cost rule of ``service.attempts``: images completed → settled from usage;
the stream cut before any image → the quote, estimated; an error the provider bills (usage
reported) → settled; any other error → 0.

A client leaving mid-stream does not stop the provider, which finishes and bills the images;
their usage comes in the last events. So the rest of the stream is read in a drain
(``service.drains``: events parsed and tallied, never forwarded or kept) within the route's
remaining timeout and the provider body cap, and the row, flagged ``client_disconnected``, is
settled from that usage; when the drain breaks off, hits a bound or the server stops first, it
is the quote, estimated, as before. Each provider read runs in a task of its own under a shield,
so the client's cancellation never lands inside the adapter's parser, whose state the drain needs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from imagegate.domain.errors import ImagegateError, ProviderError, UpstreamBadResponse
from imagegate.domain.result import ImageResult, StreamEvent, Usage
from imagegate.pricing.engine import Charge
from imagegate.providers.http import StreamingResponse
from imagegate.service.attempts import AttemptRecorder
from imagegate.service.drains import DrainBound, Drains
from imagegate.service.fanout import add_usage
from imagegate.service.plan import Plan, PlannedRoute
from imagegate.service.wire_parse import bad_response

log = logging.getLogger("imagegate.service")


@dataclass(slots=True)
class _Tally:
    """What the events so far say: images completed, usage, the provider's verdicts."""

    provider_request_id: str | None
    completed: int = 0
    finished: bool = False  # a completed event seen (a Responses turn may finish with no image)
    failure_code: str | None = None
    usage_raw: dict[str, object] = field(default_factory=dict)
    totals: Usage = field(default_factory=Usage)
    running: Usage | None = None
    error: ImagegateError | None = None
    # The client left before the stream finished (its row then says ``client_disconnected``).
    left_early: bool = False

    def note(self, event: StreamEvent) -> None:
        if event.provider_request_id is not None:
            self.provider_request_id = event.provider_request_id
        if event.failure_code is not None:
            self.failure_code = event.failure_code
        if event.kind == "completed":
            self.finished = True
            self.completed += 1 if event.image_count is None else event.image_count
            if event.usage is not None:
                self.usage_raw = event.usage.raw
                self.totals = add_usage(self.totals, event.usage)
        elif event.kind == "error" and isinstance(event.error, ImagegateError):
            self.error = event.error
        if event.usage_total is not None:
            self.running = event.usage_total  # a running total: the last one is the request's
            self.usage_raw = self.running.raw

    def ended(self) -> None:
        """The stream ended cleanly: one that never completed an image is a bad answer."""
        if not self.finished and self.error is None:
            self.error = UpstreamBadResponse("the provider's stream ended without a completed image")


async def _next(events: AsyncIterator[StreamEvent]) -> StreamEvent | None:
    try:
        return await anext(events)
    except StopAsyncIteration:
        return None


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
        drains: Drains | None = None,
    ) -> None:
        self.recorder = recorder
        # Called once the stream ended and was recorded (admission settles there).
        self._on_close = on_close
        self._drains = drains
        self.plan = plan
        self.route = route
        self.attempt = attempt
        self._started = started
        self._opened = opened
        self._received = 0  # stream bytes read so far
        self._draining = False
        # The response headers' id (OpenAI); replaced by one the stream body carries (Gemini's responseId).
        self.provider_request_id: str | None = route.adapter.provider_request_id(opened.headers)

    async def _frames(self, max_bytes: int) -> AsyncIterator[bytes]:
        async for piece in self._opened.aiter_bytes():
            self._received += len(piece)
            if self._draining and self._received > max_bytes:
                raise UpstreamBadResponse(f"the drained stream passed {max_bytes} bytes")
            yield piece

    async def events(self) -> AsyncGenerator[StreamEvent]:
        """The provider's events as they arrive; the ledger entry is written when this ends."""
        tally = _Tally(self.provider_request_id)
        disconnected = False
        drained_later = False
        request = self.route.request_for(self.plan.request)
        wire = self.route.adapter.events_from_wire(request, self._frames(self._opened.max_body_bytes))
        step: asyncio.Task[StreamEvent | None] | None = None
        try:
            while True:
                step = asyncio.get_running_loop().create_task(_next(wire))
                # Shielded: the client leaving cancels this wait, never the read (the drain goes on with it).
                event = await asyncio.shield(step)
                step = None
                if event is None:
                    break
                tally.note(event)
                yield event
            tally.ended()
        except ProviderError as exc:
            tally.error = exc
            raise
        except (asyncio.CancelledError, GeneratorExit):
            # The client left (the response stopped iterating) or the server is stopping mid-stream.
            disconnected = True
            tally.left_early = not tally.finished and tally.error is None
            pending = step
            drained_later = self._drains is not None and self._drains.start(lambda: self._drain(wire, pending, tally))
            if not drained_later and step is not None:
                step.cancel()
            raise
        except Exception as exc:
            # A frame the adapter could not make sense of: the provider's answer is bad, not the gateway.
            tally.error = bad_response(exc, self._opened.status, tally.provider_request_id)
            raise tally.error from exc
        finally:
            if not drained_later:
                # Record first: during cancellation any await below may be interrupted.
                self._finish(tally, disconnected)
                await self._release()

    async def _drain(
        self,
        wire: AsyncIterator[StreamEvent],
        pending: asyncio.Task[StreamEvent | None] | None,
        tally: _Tally,
    ) -> None:
        """The rest of a stream whose client left, tallied (not forwarded) to price it from its
        usage; then the row, the connection released and admission settled. Cancelled: the server
        is stopping."""
        self._draining = True
        bound = DrainBound(self._started + self.route.target.timeout_s, self._opened.max_body_bytes)
        complete = False
        error_when_left = tally.error
        try:
            async with asyncio.timeout(bound.remaining_s(self.recorder.clock())):
                event = await pending if pending is not None else await _next(wire)
                while event is not None:
                    tally.note(event)
                    event = await _next(wire)
            tally.ended()
            complete = tally.error is None
        except BaseException as exc:
            if pending is not None and not pending.done():
                pending.cancel()
            tally.error = error_when_left  # what the drain met is not the attempt's error
            if not isinstance(exc, Exception):
                self._finish(tally, True)
                await self._release()
                raise
            log.info("drain of %s ended without its usage: %s", self.plan.request_id, type(exc).__name__)
        if not complete:
            tally.error = error_when_left
        self._finish(tally, True)
        await self._release()

    async def _release(self) -> None:
        try:
            await self._opened.aclose()
        finally:
            if self._on_close is not None:
                await self._on_close()

    def _charge(self, tally: _Tally, disconnected: bool, result: ImageResult) -> Charge:
        recorder, plan, route = self.recorder, self.plan, self.route
        if result.image_count > 0 or (tally.finished and tally.error is None):
            return recorder.settle(plan, route, result)
        if disconnected:
            # Cut short mid-call: the provider may well finish and bill; the upper bound is the honest estimate.
            return recorder.quote(plan, route)
        error = tally.error
        if isinstance(error, ProviderError):
            if error.usage is not None:
                return recorder.settle(plan, route, ImageResult(image_count=0, usage=result.usage))
            return recorder.for_error(plan, route, error)
        return recorder.quote(plan, route)

    def _finish(self, tally: _Tally, disconnected: bool) -> None:
        totals = tally.totals if tally.running is None else add_usage(tally.totals, tally.running)
        totals.raw = dict(tally.usage_raw)
        self.provider_request_id = tally.provider_request_id
        result = ImageResult(image_count=tally.completed, usage=totals, provider_request_id=self.provider_request_id)
        self.recorder.record(
            self.plan,
            self.route,
            self.attempt,
            self._started,
            error=tally.error,
            charge=self._charge(tally, disconnected, result),
            http_status=self._opened.status,
            provider_request_id=self.provider_request_id,
            images=tally.completed,
            usage=totals,
            client_disconnected=disconnected,
            # A drained stream keeps the disconnect's code: the client never had its images.
            error_code="client_disconnected" if disconnected and tally.left_early else tally.failure_code,
        )
